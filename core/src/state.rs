//! The six breaker states and the packed state word.
//!
//! The state word is one `u64`, so a state and everything that must change with it change in
//! one compare-and-swap:
//!
//! ```text
//! bits 63..32  generation         bumped by every transition
//! bit  31      pending            a transition was claimed; its entry data is not yet published
//! bits 30..28  state
//! bits 27..18  half-open sequence trial permits issued in this generation, hand-backs included:
//!                                 the next trial permit's slot (never reused in a generation)
//! bits 17..9   half-open successes
//! bits  8..0   half-open out      trial permits issued and not handed back (at most
//!                                 `half_open_permits`)
//! ```
//!
//! The generation whose window a snapshot shows outside Closed/MetricsOnly lives beside the
//! word, in the breaker's head, published with the entry time (it needs all 32 bits).

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

const COUNT_MASK: u64 = 0x1FF;
const SUCC_SHIFT: u32 = 9;
const SEQ_SHIFT: u32 = 18;
const SEQ_MASK: u64 = 0x3FF;
const STATE_SHIFT: u32 = 28;
pub(crate) const PENDING: u64 = 1 << 31;
const GEN_SHIFT: u32 = 32;

/// Trial permits one half-open generation can issue, hand-backs included: each gets its own
/// slot, so a permit recorded twice is recognised (T6). The sequence field holds `0..=TRIAL_SLOTS`.
pub(crate) const TRIAL_SLOTS: u32 = SEQ_MASK as u32;

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
    pub(crate) pending: bool,
    pub(crate) state: State,
    /// Trial permits issued in this generation, hand-backs included (the next slot).
    pub(crate) ho_seq: u32,
    pub(crate) ho_successes: u32,
    /// Trial permits out: issued and not handed back.
    pub(crate) ho_issued: u32,
}

impl Word {
    pub(crate) const fn initial() -> Word {
        Word {
            gen_: 1,
            pending: false,
            state: State::Closed,
            ho_seq: 0,
            ho_successes: 0,
            ho_issued: 0,
        }
    }

    pub(crate) const fn pack(self) -> u64 {
        ((self.gen_ as u64) << GEN_SHIFT)
            | if self.pending { PENDING } else { 0 }
            | ((self.state as u64) << STATE_SHIFT)
            | (((self.ho_seq as u64) & SEQ_MASK) << SEQ_SHIFT)
            | (((self.ho_successes as u64) & COUNT_MASK) << SUCC_SHIFT)
            | ((self.ho_issued as u64) & COUNT_MASK)
    }

    pub(crate) const fn unpack(w: u64) -> Word {
        let state = match State::from_u8(((w >> STATE_SHIFT) & 0x7) as u8) {
            Some(s) => s,
            // Only `pack` writes state words, so the field always holds a valid state.
            None => State::ForcedOpen,
        };
        Word {
            gen_: (w >> GEN_SHIFT) as u32,
            pending: w & PENDING != 0,
            state,
            ho_seq: ((w >> SEQ_SHIFT) & SEQ_MASK) as u32,
            ho_successes: ((w >> SUCC_SHIFT) & COUNT_MASK) as u32,
            ho_issued: (w & COUNT_MASK) as u32,
        }
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
                pending: true,
                state: s,
                ho_seq: TRIAL_SLOTS,
                ho_successes: 510,
                ho_issued: 511,
            };
            assert_eq!(Word::unpack(w.pack()), w);
            let w = Word { pending: false, ..w };
            assert_eq!(Word::unpack(w.pack()), w);
        }
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
