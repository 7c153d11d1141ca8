//! The vocabulary shared by the model and every front door: a breaker's parameters, the
//! operations a sequence applies, and what each operation lets a caller observe. Serialised
//! as JSON for the Python front door (`spec-trace`).

use serde::{Deserialize, Serialize};

/// Breaker parameters, in the core's units (nanoseconds). `0` turns `slow_call_ns` and
/// `consecutive_failures` off; `None` leaves a duration at its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Window length.
    pub window_ns: u64,
    /// Buckets in the ring.
    pub buckets: u32,
    /// Calls needed before a rate can trip.
    pub minimum_calls: u32,
    /// Failure-rate threshold.
    pub failure_rate: f64,
    /// Slow-call-rate threshold.
    pub slow_call_rate: f64,
    /// Slow-call duration; 0 = off.
    pub slow_call_ns: u64,
    /// Failures in a row that trip; 0 = off.
    pub consecutive_failures: u32,
    /// Half-open trial permits.
    pub half_open_permits: u32,
    /// Open duration after a trip.
    pub open_ns: u64,
    /// Cap on the grown open duration; `None` = no cap.
    pub max_open_ns: Option<u64>,
    /// Growth factor after a failed or lapsed trial.
    pub backoff_multiplier: f64,
    /// Trial lease; `None` = one window.
    pub half_open_timeout_ns: Option<u64>,
}

impl Params {
    /// Bucket width.
    pub fn width(&self) -> u64 {
        self.window_ns / u64::from(self.buckets)
    }
    /// The trial lease in force.
    pub fn lease_ns(&self) -> u64 {
        self.half_open_timeout_ns.unwrap_or(self.window_ns)
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeeded.
    Success,
    /// Failed.
    Failure,
    /// Not a call.
    Ignored,
}

/// A manual operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `trip`.
    Trip,
    /// `force_open`.
    ForceOpen,
    /// `disable`.
    Disable,
    /// `metrics_only`.
    MetricsOnly,
    /// `reset`.
    Reset,
}

/// One step of a sequence. `permit` indexes the permits issued so far, in issue order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `try_acquire(now)`.
    Acquire {
        /// Caller time.
        now: u64,
    },
    /// Record permit `permit` (a second record of the same permit object is refused).
    Record {
        /// Index of the permit.
        permit: usize,
        /// How the call ended.
        outcome: Outcome,
        /// How long it took, if timed.
        duration_ns: Option<u64>,
        /// Caller time.
        now: u64,
    },
    /// Record a copy of permit `permit`'s plain data (Rust `RawPermit`, a C struct copy): the
    /// core itself must refuse a trial permit's second record. Not in the Python door.
    RecordCopy {
        /// Index of the permit.
        permit: usize,
        /// How the call ended.
        outcome: Outcome,
        /// Caller time.
        now: u64,
    },
    /// Record, into this breaker, a permit issued by another one.
    RecordForeign {
        /// Caller time.
        now: u64,
    },
    /// A manual operation.
    Manual {
        /// Which.
        action: Action,
        /// Caller time.
        now: u64,
    },
    /// `pairs` × (`disable`, `reset`): 2 × `pairs` transitions at one instant.
    Cycle {
        /// Pairs.
        pairs: u32,
        /// Caller time.
        now: u64,
    },
    /// Test hook: reset into generation `generation` (next to a wrap point).
    SetGeneration {
        /// The generation entered.
        generation: u32,
        /// Caller time.
        now: u64,
    },
    /// `snapshot(now)`.
    Snapshot {
        /// Caller time.
        now: u64,
    },
    /// `state(now)`.
    State {
        /// Caller time.
        now: u64,
    },
    /// `retry_after(now)`.
    RetryAfter {
        /// Caller time.
        now: u64,
    },
}

/// Breaker states, by their stable snake-case names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
    ForcedOpen,
    Disabled,
    MetricsOnly,
}

impl State {
    /// Whether calls are counted in the window.
    pub fn records(self) -> bool {
        matches!(self, State::Closed | State::MetricsOnly)
    }
}

/// Transition reasons, by their stable snake-case names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Reason {
    FailureRate,
    SlowCallRate,
    ConsecutiveFailures,
    OpenElapsed,
    TrialsSucceeded,
    TrialFailed,
    HalfOpenTimeout,
    Trip,
    ForceOpen,
    Disable,
    MetricsOnly,
    Reset,
}

/// Permit kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Kind {
    Normal,
    Trial,
    Passthrough,
}

/// A state change as returned to the call that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Tr {
    pub from: State,
    pub to: State,
    pub generation: u32,
    pub at: u64,
    pub reason: Reason,
}

/// Why a record was refused (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Refusal {
    AlreadyRecorded,
    ForeignPermit,
    /// The sequence names a permit that was never issued (only shrunk sequences do).
    NoSuchPermit,
}

/// A snapshot, field for field as `Metrics` in all three languages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Snap {
    pub state: State,
    pub generation: u32,
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    pub slow_calls: u64,
    pub failure_rate: f64,
    pub slow_call_rate: f64,
    pub rejected: u64,
    pub stale: u64,
    pub time_until_half_open_ns: Option<u64>,
    pub open_ns: u64,
}

/// What an operation lets its caller observe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "obs", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Obs {
    Permit { kind: Kind, generation: u32, slot: u16, transition: Option<Tr> },
    Rejected { state: State, retry_after_ns: Option<u64>, transition: Option<Tr> },
    Recorded { transition: Option<Tr> },
    Refused { error: Refusal },
    Manual { transition: Option<Tr> },
    Snapshot(Snap),
    State { state: State },
    RetryAfter { retry_after_ns: Option<u64> },
}
