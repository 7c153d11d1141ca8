//! The values that cross the API: outcomes, permits, rejections, transitions, metrics.

use core::fmt;

use crate::state::State;

/// How a permitted call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Outcome {
    /// The call succeeded.
    Success = 0,
    /// The call failed and counts against the breaker.
    Failure = 1,
    /// The call ended in a way that says nothing about the protected resource (a
    /// cancellation, a validation error): it is not a call. In half-open it hands its trial
    /// permit back.
    Ignored = 2,
}

/// Why a transition happened. The numbers are stable (the C ABI exposes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Reason {
    /// Closed → Open: the failure rate reached its threshold over at least `minimum_calls`.
    FailureRate = 0,
    /// Closed → Open: the slow-call rate reached its threshold over at least `minimum_calls`.
    SlowCallRate = 1,
    /// Closed → Open: `consecutive_failures` failures in a row.
    ConsecutiveFailures = 2,
    /// Open → HalfOpen: the open duration passed and a caller asked for a permit.
    OpenElapsed = 3,
    /// HalfOpen → Closed: `half_open_permits` trials succeeded.
    TrialsSucceeded = 4,
    /// HalfOpen → Open: a trial failed (or was slow).
    TrialFailed = 5,
    /// HalfOpen → Open: trials did not report within `half_open_timeout_ns`.
    HalfOpenTimeout = 6,
    /// Manual [`trip`](crate::Breaker::trip).
    Trip = 7,
    /// Manual [`force_open`](crate::Breaker::force_open).
    ForceOpen = 8,
    /// Manual [`disable`](crate::Breaker::disable).
    Disable = 9,
    /// Manual [`metrics_only`](crate::Breaker::metrics_only).
    MetricsOnly = 10,
    /// Manual [`reset`](crate::Breaker::reset).
    Reset = 11,
}

impl Reason {
    /// The reason with this stable number, if any.
    pub const fn from_u8(v: u8) -> Option<Reason> {
        Some(match v {
            0 => Reason::FailureRate,
            1 => Reason::SlowCallRate,
            2 => Reason::ConsecutiveFailures,
            3 => Reason::OpenElapsed,
            4 => Reason::TrialsSucceeded,
            5 => Reason::TrialFailed,
            6 => Reason::HalfOpenTimeout,
            7 => Reason::Trip,
            8 => Reason::ForceOpen,
            9 => Reason::Disable,
            10 => Reason::MetricsOnly,
            11 => Reason::Reset,
            _ => return None,
        })
    }

    /// Lower-case snake name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::OpenElapsed => "open_elapsed",
            Reason::TrialsSucceeded => "trials_succeeded",
            Reason::TrialFailed => "trial_failed",
            Reason::HalfOpenTimeout => "half_open_timeout",
            Reason::Trip => "trip",
            Reason::ForceOpen => "force_open",
            Reason::Disable => "disable",
            Reason::MetricsOnly => "metrics_only",
            Reason::Reset => "reset",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change, returned to exactly one caller: the one whose call made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The generation of the state entered.
    pub generation: u32,
    /// The caller's time of the call that made the change, in nanoseconds.
    pub at: u64,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} (gen {}, {}, at {} ns)",
            self.from, self.to, self.generation, self.reason, self.at
        )
    }
}

/// What kind of call a permit admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum PermitKind {
    /// A call in Closed or MetricsOnly: its outcome is counted in the window.
    Normal = 0,
    /// A half-open trial: its outcome closes or re-opens the breaker.
    Trial = 1,
    /// A call in Disabled: its outcome is not recorded.
    Passthrough = 2,
}

/// A permit in plain-data form, for bindings that must carry it across a language boundary.
/// Rebuild a [`Permit`] with [`Permit::from_raw`]; a forged or foreign one is detected when
/// recorded, never trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub struct RawPermit {
    /// Identity of the breaker that issued it.
    pub breaker_id: u32,
    /// Generation of the state it was issued in.
    pub generation: u32,
    /// [`PermitKind`] as its stable number.
    pub kind: u8,
    /// For a trial permit, its slot in its half-open generation (each trial permit has its own,
    /// which is how a second record of it is recognised); 0 otherwise.
    pub slot: u16,
}

/// Permission to make one call. Hand it back with [`record`](crate::Breaker::record); it is
/// consumed, so one permit records one outcome.
///
/// Single use: in Rust the move does it. A permit rebuilt from its plain-data form
/// ([`RawPermit`]) can be recorded twice; for a half-open trial permit the core itself refuses
/// the second record ([`RecordError::AlreadyRecorded`], nothing changes), because trials decide
/// the close. A Closed/MetricsOnly permit carries no per-permit state in the core: the bindings
/// refuse its second record (C marks the `rb_permit` consumed, Python the `Permit`), and a
/// copy of its plain-data form recorded twice is counted twice.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a permit should be recorded with `record`, or the call's outcome is lost"]
pub struct Permit {
    pub(crate) breaker_id: u32,
    pub(crate) generation: u32,
    pub(crate) kind: PermitKind,
    pub(crate) slot: u16,
    pub(crate) transition: Option<Transition>,
}

/// What a record needs of a [`Permit`]: its fields without the transition. Taken apart at the
/// top of every record entry point so the permit's fields stay in registers on the fast path;
/// passing the whole `Permit` (40 bytes, with its `Option<Transition>`) to the out-of-line
/// slow path made the compiler build it on the stack and read it back with wider loads than
/// it was written with, a store-forwarding stall on every call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    pub(crate) breaker_id: u32,
    pub(crate) generation: u32,
    pub(crate) kind: PermitKind,
    pub(crate) slot: u16,
}

impl Permit {
    /// The fields a record reads.
    #[inline(always)]
    pub(crate) const fn key(&self) -> Key {
        Key {
            breaker_id: self.breaker_id,
            generation: self.generation,
            kind: self.kind,
            slot: self.slot,
        }
    }

    /// The generation of the state this permit was issued in.
    pub const fn generation(&self) -> u32 {
        self.generation
    }
    /// What kind of call this permit admits.
    pub const fn kind(&self) -> PermitKind {
        self.kind
    }
    /// The transition this acquisition caused (Open → HalfOpen), if any.
    pub const fn transition(&self) -> Option<Transition> {
        self.transition
    }
    /// A trial permit's slot in its half-open generation (0 for other kinds).
    pub const fn slot(&self) -> u16 {
        self.slot
    }
    /// Plain-data form, for crossing a language boundary.
    pub const fn to_raw(&self) -> RawPermit {
        RawPermit {
            breaker_id: self.breaker_id,
            generation: self.generation,
            kind: self.kind as u8,
            slot: self.slot,
        }
    }
    /// Rebuild a permit from its plain-data form. `None` if `kind` is not a valid number.
    pub const fn from_raw(raw: RawPermit) -> Option<Permit> {
        let kind = match raw.kind {
            0 => PermitKind::Normal,
            1 => PermitKind::Trial,
            2 => PermitKind::Passthrough,
            _ => return None,
        };
        Some(Permit {
            breaker_id: raw.breaker_id,
            generation: raw.generation,
            kind,
            slot: raw.slot,
            transition: None,
        })
    }
}

/// The breaker did not permit the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected {
    /// The state that rejected it (Open, HalfOpen with all trials out, or ForcedOpen).
    pub state: State,
    /// Nanoseconds from the call's `now` until a call could be admitted: for Open, the end of
    /// the open period; for a full HalfOpen, the earliest instant its newest trial lease can
    /// lapse (a trial reporting first may close or re-open it sooner); `None` for ForcedOpen,
    /// which waits for a manual `reset`. [`Breaker::retry_after`](crate::Breaker::retry_after)
    /// gives the same number without acquiring.
    pub retry_after_ns: Option<u64>,
    /// The transition this call caused (HalfOpen → Open on a lapsed trial), if any.
    pub transition: Option<Transition>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker is {}", self.state)?;
        if let Some(ns) = self.retry_after_ns {
            write!(f, "; retry after {ns} ns")?;
        }
        Ok(())
    }
}

impl core::error::Error for Rejected {}

/// [`try_record`](crate::Breaker::try_record) refused an outcome. Nothing was recorded and
/// nothing was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordError {
    /// The permit was issued by a different breaker.
    ForeignPermit,
    /// This half-open trial permit has already been recorded once (T6).
    AlreadyRecorded,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordError::ForeignPermit => "permit was issued by a different breaker",
            RecordError::AlreadyRecorded => "permit was already recorded",
        })
    }
}

impl core::error::Error for RecordError {}

/// A snapshot of a breaker. Window counts cover the current window of the current window
/// generation; `rejected` and `stale` are totals since construction.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Metrics {
    /// The state as the next `try_acquire` at this snapshot's `now` would find it, the same as
    /// [`Breaker::state`](crate::Breaker::state): an Open breaker whose open duration has
    /// passed reads HalfOpen, a full HalfOpen whose newest lease has lapsed reads Open.
    pub state: State,
    /// The current generation.
    pub generation: u32,
    /// `successes + failures` in the window.
    pub calls: u64,
    /// Successful calls in the window.
    pub successes: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window (each is also a success or a failure).
    pub slow_calls: u64,
    /// `failures / calls`, or 0.0 with no calls.
    pub failure_rate: f64,
    /// `slow_calls / calls`, or 0.0 with no calls.
    pub slow_call_rate: f64,
    /// Calls rejected since construction.
    pub rejected: u64,
    /// Outcomes recorded with a permit from an older generation, since construction.
    pub stale: u64,
    /// While the stored state is Open: nanoseconds until a call would be admitted as a trial
    /// (0 once the open duration has passed and no call has moved it on yet).
    pub time_until_half_open_ns: Option<u64>,
    /// The open duration currently in force (grows with backoff, resets on close).
    pub open_ns: u64,
}
