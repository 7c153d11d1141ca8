//! The six breaker states and the packed state word.
//!
//! The state word is one `u64`, so a state and everything that must change with it change in
//! one compare-and-swap:
//!
//! ```text
//! bits 63..32  generation        bumped by every transition
//! bits 31..24  window generation low 8 bits of the generation whose window is current
//! bit  23      pending           a transition was claimed; its entry time is not yet published
//! bits 22..20  state
//! bits 19..10  half-open successes
//! bits  9..0   half-open permits issued
//! ```

use core::fmt;

/// A breaker state. The numbers are stable (the C ABI and Python expose them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Calls are permitted and recorded; rates and streaks can trip the breaker.
    Closed = 0,
    /// Calls are rejected until the open duration has passed.
    Open = 1,
    /// A limited number of trial calls are permitted; their outcomes close or re-open it.
    HalfOpen = 2,
    /// Manual: every call is rejected until [`reset`](crate::Breaker::reset).
    ForcedOpen = 3,
    /// Manual: every call is permitted and nothing is recorded.
    Disabled = 4,
    /// Manual: every call is permitted and recorded, and the breaker never trips.
    MetricsOnly = 5,
}

impl State {
    /// All states, in numeric order.
    pub const ALL: [State; 6] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
        State::MetricsOnly,
    ];

    /// The state with this stable number, if any.
    pub const fn from_u8(v: u8) -> Option<State> {
        match v {
            0 => Some(State::Closed),
            1 => Some(State::Open),
            2 => Some(State::HalfOpen),
            3 => Some(State::ForcedOpen),
            4 => Some(State::Disabled),
            5 => Some(State::MetricsOnly),
            _ => None,
        }
    }

    /// Lower-case snake name, as used in logs and by the bindings.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics_only",
        }
    }

    /// Whether calls in this state are counted in the rolling window.
    pub const fn records(self) -> bool {
        matches!(self, State::Closed | State::MetricsOnly)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const ISSUED_MASK: u64 = 0x3FF;
const SUCC_SHIFT: u32 = 10;
const STATE_SHIFT: u32 = 20;
pub(crate) const PENDING: u64 = 1 << 23;
const WGEN_SHIFT: u32 = 24;
const GEN_SHIFT: u32 = 32;

/// Whether the state in word `raw` counts calls in the window (Closed or MetricsOnly), read
/// without decoding the rest of the word: the hot path's one test of the state.
#[inline(always)]
pub(crate) const fn raw_records(raw: u64) -> bool {
    let s = (raw >> STATE_SHIFT) & 0x7;
    s == State::Closed as u64 || s == State::MetricsOnly as u64
}

/// Whether the state in word `raw` is Closed, without decoding the rest of the word.
#[inline(always)]
pub(crate) const fn raw_closed(raw: u64) -> bool {
    (raw >> STATE_SHIFT) & 0x7 == State::Closed as u64
}

/// The generation in word `raw`.
#[inline(always)]
pub(crate) const fn raw_gen(raw: u64) -> u32 {
    (raw >> GEN_SHIFT) as u32
}

/// Decoded view of a state word. Plain data; `pack` and `unpack` are exact inverses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) gen_: u32,
    pub(crate) wgen_lo: u8,
    pub(crate) pending: bool,
    pub(crate) state: State,
    pub(crate) ho_successes: u32,
    pub(crate) ho_issued: u32,
}

impl Word {
    pub(crate) const fn initial() -> Word {
        Word {
            gen_: 1,
            wgen_lo: 1,
            pending: false,
            state: State::Closed,
            ho_successes: 0,
            ho_issued: 0,
        }
    }

    pub(crate) const fn pack(self) -> u64 {
        ((self.gen_ as u64) << GEN_SHIFT)
            | ((self.wgen_lo as u64) << WGEN_SHIFT)
            | if self.pending { PENDING } else { 0 }
            | ((self.state as u64) << STATE_SHIFT)
            | (((self.ho_successes as u64) & ISSUED_MASK) << SUCC_SHIFT)
            | ((self.ho_issued as u64) & ISSUED_MASK)
    }

    pub(crate) const fn unpack(w: u64) -> Word {
        let state = match State::from_u8(((w >> STATE_SHIFT) & 0x7) as u8) {
            Some(s) => s,
            // Only `pack` writes state words, so the field always holds a valid state.
            None => State::ForcedOpen,
        };
        Word {
            gen_: (w >> GEN_SHIFT) as u32,
            wgen_lo: (w >> WGEN_SHIFT) as u8,
            pending: w & PENDING != 0,
            state,
            ho_successes: ((w >> SUCC_SHIFT) & ISSUED_MASK) as u32,
            ho_issued: (w & ISSUED_MASK) as u32,
        }
    }

    /// The full generation of the window that is current in this word: the generation of the
    /// last entry into a recording state. Reconstructed from 8 bits, exact as long as fewer
    /// than 256 transitions separate it from the current generation (beyond that a snapshot
    /// taken outside a recording state reports an empty window).
    pub(crate) const fn window_gen(&self) -> u32 {
        let back = self.gen_.wrapping_sub(self.wgen_lo as u32) & 0xFF;
        self.gen_.wrapping_sub(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for s in State::ALL {
            let w = Word {
                gen_: 0xDEAD_BEEF,
                wgen_lo: 0xE9,
                pending: true,
                state: s,
                ho_successes: 1023,
                ho_issued: 517,
            };
            assert_eq!(Word::unpack(w.pack()), w);
            let w = Word { pending: false, ..w };
            assert_eq!(Word::unpack(w.pack()), w);
        }
    }

    #[test]
    fn window_gen_reconstructs_across_wrap() {
        let w = Word { gen_: 0x1_00, wgen_lo: 0xFE, ..Word::initial() };
        assert_eq!(w.window_gen(), 0xFE);
        let w = Word { gen_: 7, wgen_lo: 7, ..Word::initial() };
        assert_eq!(w.window_gen(), 7);
    }

    #[test]
    fn state_numbers_are_stable() {
        for (i, s) in State::ALL.iter().enumerate() {
            assert_eq!(*s as u8 as usize, i);
            assert_eq!(State::from_u8(i as u8), Some(*s));
        }
        assert_eq!(State::from_u8(6), None);
    }
}
