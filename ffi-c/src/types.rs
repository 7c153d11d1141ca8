//! The C ABI's types: status numbers, enums and the plain structs that cross the boundary.
//! Every enum is `#[repr(u32)]` with stable numbers, never reused.
#![allow(non_camel_case_types)]

/// Result of a fallible call. The numbers are stable: never reused, never renumbered.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rb_status {
    /// Success.
    RB_OK = 0,
    /// The breaker did not permit the call (Open, HalfOpen with all trials out, ForcedOpen).
    RB_REJECTED = 1,
    /// A required pointer argument was NULL.
    RB_NULL_ARGUMENT = 2,
    /// The configuration is invalid; rb_last_error_field() names the field.
    RB_INVALID_CONFIG = 3,
    /// The buffer given to rb_breaker_init_in is smaller than rb_breaker_size().
    RB_BUFFER_TOO_SMALL = 4,
    /// The buffer given to rb_breaker_init_in is not aligned to rb_breaker_align().
    RB_MISALIGNED = 5,
    /// The permit was issued by a different breaker; nothing was recorded.
    RB_FOREIGN_PERMIT = 6,
    /// An enum argument (outcome, permit kind) holds a value outside its range.
    RB_INVALID_ARGUMENT = 7,
    /// An internal error was caught at the boundary; the breaker is unchanged or consistent.
    RB_PANIC = 8,
    /// The permit was already recorded: rb_record consumed this rb_permit before, or (for a
    /// half-open trial permit, checked by the breaker itself) a copy of it. Nothing changed.
    RB_ALREADY_RECORDED = 9,
    /// rb_retry_after: the breaker is forced open; only rb_reset ends that, so there is no
    /// time to retry at.
    RB_NO_RETRY_AFTER = 10,
    // Shared regions (rb_shared_*): 20..=29; rb_shared_last_error() has the details.
    /// Shared region: a system call (open, flock, mmap, ...) failed.
    RB_SHARED_IO = 20,
    /// Shared region: this target's 64-bit atomics are not lock-free, so it cannot share one.
    RB_SHARED_UNSUPPORTED = 21,
    /// Shared region: the file is not a ringbreaker region.
    RB_SHARED_NOT_A_REGION = 22,
    /// Shared region: written in another format version.
    RB_SHARED_VERSION_MISMATCH = 23,
    /// Shared region: created by a build with another breaker layout.
    RB_SHARED_LAYOUT_MISMATCH = 24,
    /// Shared region: holds a breaker with another configuration.
    RB_SHARED_CONFIG_MISMATCH = 25,
    /// Shared region: the file is shorter than its header says.
    RB_SHARED_TRUNCATED = 26,
    /// Shared region: the header or the breaker block is inconsistent.
    RB_SHARED_CORRUPT = 27,
    /// Shared region: its creator is alive but did not finish creating it in time.
    RB_SHARED_CREATION_TIMEOUT = 28,
    /// The breaker was not opened by rb_shared_open in this process.
    RB_NOT_SHARED = 29,
}

/// Breaker state (numbers as in the Rust `State`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rb_breaker_state {
    /// Permitting and recording.
    RB_STATE_CLOSED = 0,
    /// Rejecting until the open duration has passed.
    RB_STATE_OPEN = 1,
    /// Admitting a limited number of trial calls.
    RB_STATE_HALF_OPEN = 2,
    /// Manual: rejecting everything until rb_reset.
    RB_STATE_FORCED_OPEN = 3,
    /// Manual: permitting everything, recording nothing.
    RB_STATE_DISABLED = 4,
    /// Manual: permitting and recording, never tripping.
    RB_STATE_METRICS_ONLY = 5,
}

/// Why a transition happened (numbers as in the Rust `Reason`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rb_reason {
    /// Closed to Open on the failure rate.
    RB_REASON_FAILURE_RATE = 0,
    /// Closed to Open on the slow-call rate.
    RB_REASON_SLOW_CALL_RATE = 1,
    /// Closed to Open on consecutive failures.
    RB_REASON_CONSECUTIVE_FAILURES = 2,
    /// Open to HalfOpen after the open duration.
    RB_REASON_OPEN_ELAPSED = 3,
    /// HalfOpen to Closed: all trials succeeded.
    RB_REASON_TRIALS_SUCCEEDED = 4,
    /// HalfOpen to Open: a trial failed or was slow.
    RB_REASON_TRIAL_FAILED = 5,
    /// HalfOpen to Open: trials did not report in time.
    RB_REASON_HALF_OPEN_TIMEOUT = 6,
    /// Manual rb_trip.
    RB_REASON_TRIP = 7,
    /// Manual rb_force_open.
    RB_REASON_FORCE_OPEN = 8,
    /// Manual rb_disable.
    RB_REASON_DISABLE = 9,
    /// Manual rb_metrics_only.
    RB_REASON_METRICS_ONLY = 10,
    /// Manual rb_reset.
    RB_REASON_RESET = 11,
}

/// How a permitted call ended (pass as uint32_t to rb_record).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rb_outcome {
    /// The call succeeded.
    RB_SUCCESS = 0,
    /// The call failed.
    RB_FAILURE = 1,
    /// Not a call (cancelled, invalid input): not counted; hands a trial permit back.
    RB_IGNORED = 2,
}

/// What a permit admits.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum rb_permit_kind {
    /// A call counted in the window.
    RB_PERMIT_NORMAL = 0,
    /// A half-open trial.
    RB_PERMIT_TRIAL = 1,
    /// A call in Disabled, not recorded.
    RB_PERMIT_PASSTHROUGH = 2,
    /// Written by rb_record into the permit it recorded: recording it again returns
    /// RB_ALREADY_RECORDED.
    RB_PERMIT_CONSUMED = 3,
}

/// Breaker configuration. Start from rb_config_default() and change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rb_config {
    /// Window length in nanoseconds; a whole multiple of buckets.
    pub window_ns: u64,
    /// Number of buckets in the ring.
    pub buckets: u32,
    /// Calls in the window before a rate can trip the breaker.
    pub minimum_calls: u32,
    /// Failure-rate threshold in [0, 1].
    pub failure_rate: f64,
    /// Slow-call-rate threshold in [0, 1].
    pub slow_call_rate: f64,
    /// A call lasting at least this long is slow; 0 disables slow-call detection.
    pub slow_call_ns: u64,
    /// Trip after this many failures in a row; 0 disables.
    pub consecutive_failures: u32,
    /// Trial calls admitted in half-open.
    pub half_open_permits: u32,
    /// Open duration after a trip from closed.
    pub open_ns: u64,
    /// Cap on the open duration as it grows by backoff_multiplier; 0 means no cap (it grows,
    /// saturating, up to UINT64_MAX).
    pub max_open_ns: u64,
    /// Factor the open duration grows by after a failed trial (>= 1).
    pub backoff_multiplier: f64,
    /// A half-open trial permit's lease; 0 means one window. Once every trial permit is out and
    /// not all have reported, the breaker re-opens at the first rb_try_acquire at or after the
    /// newest permit's issue time plus this (a lapse counts as a failed trial).
    pub half_open_timeout_ns: u64,
    /// Stripes of the window: a power of two up to RB_MAX_STRIPES; 0 means 1 (not striped).
    /// Each thread counts in its own stripe, so threads recording on one breaker stop sharing
    /// a cache line per bucket. Totals, rates and metrics sum every stripe and stay exact.
    /// Each stripe costs buckets × 128 bytes more (see rb_breaker_size).
    pub stripes: u32,
}

/// A breaker. Opaque: created by rb_breaker_new or rb_breaker_init_in.
pub struct rb_breaker {
    _private: [u8; 0],
}

/// Permission to make one call; pass its address to rb_record, once. rb_record marks it
/// consumed (kind RB_PERMIT_CONSUMED), so a second rb_record of it returns
/// RB_ALREADY_RECORDED. A half-open trial permit is single-use in the breaker itself, so even a
/// copy recorded again is refused; a copy of a Closed-state permit recorded twice counts twice.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rb_permit {
    /// Identity of the issuing breaker.
    pub breaker_id: u32,
    /// Generation of the state it was issued in.
    pub generation: u32,
    /// An rb_permit_kind value.
    pub kind: u32,
    /// A trial permit's slot in its half-open generation; 0 for other kinds.
    pub slot: u32,
}

/// A state change. `occurred` is false when the call changed nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rb_transition {
    /// Whether a transition happened; the other fields are meaningful only if true.
    pub occurred: bool,
    /// The state left.
    pub from: rb_breaker_state,
    /// The state entered.
    pub to: rb_breaker_state,
    /// Why.
    pub reason: rb_reason,
    /// Generation of the state entered.
    pub generation: u32,
    /// Caller time of the call that made it.
    pub at_ns: u64,
}

/// A snapshot. Window counts cover the current window; rejected and stale are totals.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct rb_metrics {
    /// The state as the next rb_try_acquire at now_ns would find it (the same as rb_state).
    pub state: rb_breaker_state,
    /// Current generation.
    pub generation: u32,
    /// successes + failures in the window.
    pub calls: u64,
    /// Successful calls in the window.
    pub successes: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// failures / calls (0 with no calls).
    pub failure_rate: f64,
    /// slow_calls / calls (0 with no calls).
    pub slow_call_rate: f64,
    /// Calls rejected since creation.
    pub rejected: u64,
    /// Outcomes recorded with a permit from an older generation, since creation.
    pub stale: u64,
    /// While the stored state is Open: nanoseconds until a trial would be admitted (0 once the
    /// open duration has passed); else 0.
    pub time_until_half_open_ns: u64,
    /// Open duration in force.
    pub open_ns: u64,
    /// Whether the stored state is Open, i.e. whether time_until_half_open_ns means anything
    /// (C's form of the Rust and Python optional).
    pub has_time_until_half_open: bool,
}
