//! The C ABI of ringbreaker. Every export is `extern "C"`, never unwinds (a panic becomes
//! `RB_PANIC`), writes its out-parameters only on success, and answers NULL with
//! `RB_NULL_ARGUMENT`. The header `include/ringbreaker.h` is generated from this file.
#![allow(non_camel_case_types)]

mod convert;
#[cfg(unix)]
mod shared;

use core::cell::Cell;
use core::ffi::{CStr, c_char};
use core::mem::MaybeUninit;
use core::panic::AssertUnwindSafe;

use ringbreaker::{Breaker, CircuitBreaker, ConfigError, Outcome, Permit, PlaceError, RecordError};

use convert::{to_config, to_metrics, to_state, write_transition};

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

thread_local! {
    static LAST_FIELD: Cell<Option<&'static CStr>> = const { Cell::new(None) };
}

fn set_last_field(e: Option<&ConfigError>) {
    let field = e.map(|e| convert::field_cstr(e.field()));
    LAST_FIELD.with(|c| c.set(field));
}

/// Run `f` behind the panic boundary.
fn guard(f: impl FnOnce() -> rb_status) -> rb_status {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(rb_status::RB_PANIC)
}

/// # Safety
/// `b` must be NULL or a live breaker from this library.
unsafe fn breaker<'a>(b: *const rb_breaker) -> Option<&'a Breaker> {
    // SAFETY: forwarded from the caller.
    (!b.is_null()).then(|| unsafe { Breaker::from_raw(b.cast()) })
}

/// The default configuration: 10 s window in 10 buckets, 50 % failure rate over at least 20
/// calls, open 5 s, one half-open trial.
#[unsafe(no_mangle)]
pub extern "C" fn rb_config_default() -> rb_config {
    // The defaults that depend on other fields stay "default" (0), so a caller who changes
    // window_ns or open_ns gets the same breaker as Rust and Python would build: a lease of
    // one window and no cap on the open duration.
    rb_config {
        half_open_timeout_ns: 0,
        max_open_ns: 0,
        ..convert::from_config(&ringbreaker::Config::default())
    }
}

/// Create a breaker on the heap. On RB_INVALID_CONFIG, rb_last_error_field() names the field.
///
/// # Safety
/// `config` and `out` must be NULL or valid pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_breaker_new(
    config: *const rb_config,
    out: *mut *mut rb_breaker,
) -> rb_status {
    guard(|| {
        if config.is_null() || out.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: non-null, and valid per the caller's contract.
        let cfg = match to_config(unsafe { &*config }) {
            Ok(c) => c,
            Err(e) => {
                set_last_field(Some(&e));
                return rb_status::RB_INVALID_CONFIG;
            }
        };
        set_last_field(None);
        let ptr = CircuitBreaker::new(cfg).into_raw();
        // SAFETY: `out` is non-null and valid per the caller's contract.
        unsafe { out.write(ptr.cast()) };
        rb_status::RB_OK
    })
}

/// Free a breaker made by rb_breaker_new. NULL is ignored. Never pass a breaker placed with
/// rb_breaker_init_in (its memory is the caller's), and never free one still in use.
///
/// # Safety
/// `b` must be NULL or a breaker from rb_breaker_new not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_breaker_free(b: *mut rb_breaker) {
    let _ = guard(|| {
        if !b.is_null() {
            // SAFETY: `b` came from `CircuitBreaker::into_raw` (caller's contract).
            drop(unsafe { CircuitBreaker::from_raw(b.cast()) });
        }
        rb_status::RB_OK
    });
}

/// Bytes needed to place a breaker with this configuration, or 0 if `config` is NULL or
/// invalid (rb_last_error_field() then names the field).
///
/// # Safety
/// `config` must be NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_breaker_size(config: *const rb_config) -> usize {
    if config.is_null() {
        return 0;
    }
    // SAFETY: non-null and valid per the caller's contract.
    match to_config(unsafe { &*config }) {
        Ok(c) => {
            set_last_field(None);
            Breaker::layout(c.buckets()).size()
        }
        Err(e) => {
            set_last_field(Some(&e));
            0
        }
    }
}

/// Alignment a placement buffer needs.
#[unsafe(no_mangle)]
pub extern "C" fn rb_breaker_align() -> usize {
    Breaker::layout(1).align()
}

/// Build a breaker in caller memory (static, stack, shared): `mem` must hold
/// rb_breaker_size(config) bytes aligned to rb_breaker_align(). The breaker lives as long as
/// the memory; it owns nothing else, so there is nothing to free.
///
/// # Safety
/// `mem` must be NULL or writable for `len` bytes and not used otherwise while the breaker
/// lives; `config` and `out` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_breaker_init_in(
    mem: *mut core::ffi::c_void,
    len: usize,
    config: *const rb_config,
    out: *mut *mut rb_breaker,
) -> rb_status {
    guard(|| {
        if mem.is_null() || config.is_null() || out.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: non-null and valid per the caller's contract.
        let cfg = match to_config(unsafe { &*config }) {
            Ok(c) => c,
            Err(e) => {
                set_last_field(Some(&e));
                return rb_status::RB_INVALID_CONFIG;
            }
        };
        set_last_field(None);
        // SAFETY: `mem` is writable for `len` bytes (caller's contract); MaybeUninit<u8> has
        // no validity requirement.
        let buf = unsafe { core::slice::from_raw_parts_mut(mem.cast::<MaybeUninit<u8>>(), len) };
        match Breaker::place(buf, cfg) {
            Ok(b) => {
                // SAFETY: `out` is non-null and valid.
                unsafe { out.write(b.as_ptr().cast_mut().cast()) };
                rb_status::RB_OK
            }
            Err(PlaceError::TooSmall { .. }) => rb_status::RB_BUFFER_TOO_SMALL,
            Err(PlaceError::Misaligned { .. }) => rb_status::RB_MISALIGNED,
        }
    })
}

/// Ask to make a call at `now_ns`. RB_OK writes `*out_permit`; RB_REJECTED does not. With
/// either, `*out_transition` (if not NULL) says whether the call changed the state. After
/// RB_REJECTED, rb_retry_after(b, now_ns, &ns) says when to retry (the number Rust's
/// `Rejected::retry_after_ns` and Python's `CircuitOpenError.retry_after` carry), and the
/// rejecting state is `out_transition->to` if a transition occurred (a lapsed half-open lease
/// re-opened it), else rb_state(b, now_ns).
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_permit` NULL or valid; `out_transition` NULL or
/// valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_try_acquire(
    b: *const rb_breaker,
    now_ns: u64,
    out_permit: *mut rb_permit,
    out_transition: *mut rb_transition,
) -> rb_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let Some(b) = (unsafe { breaker(b) }) else { return rb_status::RB_NULL_ARGUMENT };
        if out_permit.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        match b.try_acquire(now_ns) {
            Ok(p) => {
                let raw = p.to_raw();
                // SAFETY: checked non-null; valid per the caller's contract.
                unsafe {
                    out_permit.write(rb_permit {
                        breaker_id: raw.breaker_id,
                        generation: raw.generation,
                        kind: u32::from(raw.kind),
                        slot: u32::from(raw.slot),
                    });
                    write_transition(out_transition, p.transition());
                }
                rb_status::RB_OK
            }
            Err(r) => {
                // SAFETY: NULL or valid per the caller's contract.
                unsafe { write_transition(out_transition, r.transition) };
                rb_status::RB_REJECTED
            }
        }
    })
}

/// Record how a permitted call ended, and mark `*permit` consumed. `outcome` is an
/// rb_outcome; `duration_ns` is how long the call took (compared with slow_call_ns; pass 0 if
/// unknown). A permit from an older generation is counted as stale (RB_OK); one from another
/// breaker is RB_FOREIGN_PERMIT (the permit is left as it was, to be recorded where it
/// belongs); one already recorded is RB_ALREADY_RECORDED and changes nothing.
///
/// # Safety
/// `b` must be NULL or a live breaker; `permit` NULL or valid for reads and writes;
/// `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_record(
    b: *const rb_breaker,
    permit: *mut rb_permit,
    outcome: u32,
    duration_ns: u64,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let Some(b) = (unsafe { breaker(b) }) else { return rb_status::RB_NULL_ARGUMENT };
        if permit.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: checked non-null; valid per the caller's contract.
        let held = unsafe { permit.read() };
        let outcome = match outcome {
            0 => Outcome::Success,
            1 => Outcome::Failure,
            2 => Outcome::Ignored,
            _ => return rb_status::RB_INVALID_ARGUMENT,
        };
        if held.kind == rb_permit_kind::RB_PERMIT_CONSUMED as u32 {
            return rb_status::RB_ALREADY_RECORDED;
        }
        let (Ok(kind), Ok(slot)) = (u8::try_from(held.kind), u16::try_from(held.slot)) else {
            return rb_status::RB_INVALID_ARGUMENT;
        };
        let raw = ringbreaker::RawPermit {
            breaker_id: held.breaker_id,
            generation: held.generation,
            kind,
            slot,
        };
        let Some(p) = Permit::from_raw(raw) else { return rb_status::RB_INVALID_ARGUMENT };
        let consume = || {
            // SAFETY: checked non-null; valid per the caller's contract.
            unsafe { (*permit).kind = rb_permit_kind::RB_PERMIT_CONSUMED as u32 };
        };
        match b.try_record(p, outcome, Some(duration_ns), now_ns) {
            Ok(t) => {
                consume();
                // SAFETY: NULL or valid per the caller's contract.
                unsafe { write_transition(out_transition, t) };
                rb_status::RB_OK
            }
            Err(RecordError::AlreadyRecorded) => {
                consume();
                rb_status::RB_ALREADY_RECORDED
            }
            Err(RecordError::ForeignPermit) => rb_status::RB_FOREIGN_PERMIT,
        }
    })
}

/// Nanoseconds from `now_ns` until a call could be admitted — what a rejection at `now_ns`
/// means: 0 when rb_try_acquire at `now_ns` would permit it; for Open, the end of the open
/// period; for a half-open breaker with every trial out, the earliest lapse of the newest
/// trial's lease (once passed, the open period the lapse starts). RB_NO_RETRY_AFTER for a
/// forced-open breaker (`*out_ns` untouched). Rust's `Rejected::retry_after_ns` and Python's
/// `CircuitOpenError.retry_after` give the same number. Changes nothing.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_ns` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_retry_after(
    b: *const rb_breaker,
    now_ns: u64,
    out_ns: *mut u64,
) -> rb_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let Some(b) = (unsafe { breaker(b) }) else { return rb_status::RB_NULL_ARGUMENT };
        if out_ns.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        match b.retry_after(now_ns) {
            Some(ns) => {
                // SAFETY: checked non-null; valid per the caller's contract.
                unsafe { out_ns.write(ns) };
                rb_status::RB_OK
            }
            None => rb_status::RB_NO_RETRY_AFTER,
        }
    })
}

/// Test support, not for production: rb_reset into `generation` instead of the next
/// generation, so tests can start next to a generation's wrap points (2^16 for window
/// stamps, 2^32 for permits) without making that many transitions.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_debug_reset_to_generation(
    b: *const rb_breaker,
    generation: u32,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    // SAFETY: forwarded from the caller.
    unsafe { manual(b, out_transition, |b| Some(b.debug_reset_to_generation(generation, now_ns))) }
}

/// Snapshot the breaker at `now_ns` into `*out`. O(buckets).
///
/// # Safety
/// `b` must be NULL or a live breaker; `out` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_snapshot(
    b: *const rb_breaker,
    now_ns: u64,
    out: *mut rb_metrics,
) -> rb_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let Some(b) = (unsafe { breaker(b) }) else { return rb_status::RB_NULL_ARGUMENT };
        if out.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: checked non-null; valid per the caller's contract.
        unsafe { out.write(to_metrics(&b.snapshot(now_ns))) };
        rb_status::RB_OK
    })
}

/// The state the next rb_try_acquire at `now_ns` would find (an elapsed Open reads HalfOpen, a
/// half-open breaker whose newest trial lease has lapsed reads Open; rb_snapshot agrees).
/// Changes nothing.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_state(
    b: *const rb_breaker,
    now_ns: u64,
    out: *mut rb_breaker_state,
) -> rb_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let Some(b) = (unsafe { breaker(b) }) else { return rb_status::RB_NULL_ARGUMENT };
        if out.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: checked non-null; valid per the caller's contract.
        unsafe { out.write(to_state(b.state(now_ns))) };
        rb_status::RB_OK
    })
}

/// Shared body of the manual operations.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out` NULL or valid.
unsafe fn manual(
    b: *const rb_breaker,
    out: *mut rb_transition,
    op: impl FnOnce(&Breaker) -> Option<ringbreaker::Transition>,
) -> rb_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let Some(b) = (unsafe { breaker(b) }) else { return rb_status::RB_NULL_ARGUMENT };
        let t = op(b);
        // SAFETY: NULL or valid per the caller's contract.
        unsafe { write_transition(out, t) };
        rb_status::RB_OK
    })
}

/// Open the breaker now, as a trip would (no-op from Open and ForcedOpen). `*out_transition` (if not NULL) says whether the state changed.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_trip(
    b: *const rb_breaker,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    // SAFETY: forwarded from the caller.
    unsafe { manual(b, out_transition, |b| b.trip(now_ns)) }
}

/// Reject every call until rb_reset (no-op if already forced open). `*out_transition` (if not NULL) says whether the state changed.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_force_open(
    b: *const rb_breaker,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    // SAFETY: forwarded from the caller.
    unsafe { manual(b, out_transition, |b| b.force_open(now_ns)) }
}

/// Permit every call and record nothing until rb_reset (no-op if already disabled). `*out_transition` (if not NULL) says whether the state changed.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_disable(
    b: *const rb_breaker,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    // SAFETY: forwarded from the caller.
    unsafe { manual(b, out_transition, |b| b.disable(now_ns)) }
}

/// Permit and record every call in a fresh window, never tripping, until rb_reset. `*out_transition` (if not NULL) says whether the state changed.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_metrics_only(
    b: *const rb_breaker,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    // SAFETY: forwarded from the caller.
    unsafe { manual(b, out_transition, |b| b.metrics_only(now_ns)) }
}

/// Closed, with a fresh window and the base open duration, from any state; from Closed too,
/// which clears the window (a Closed -> Closed transition with reason RB_REASON_RESET).
/// `*out_transition` (if not NULL) receives the transition.
///
/// # Safety
/// `b` must be NULL or a live breaker; `out_transition` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_reset(
    b: *const rb_breaker,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    // SAFETY: forwarded from the caller.
    unsafe { manual(b, out_transition, |b| b.reset(now_ns)) }
}

/// Nanoseconds on CLOCK_MONOTONIC: one clock for every process on the machine, so breakers in
/// shared memory can be driven from several processes.
#[unsafe(no_mangle)]
pub extern "C" fn rb_now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC is always available on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// A static, NUL-terminated description of a status (any number, known or not).
#[unsafe(no_mangle)]
pub extern "C" fn rb_status_str(status: u32) -> *const c_char {
    let s: &'static CStr = match status {
        0 => c"ok",
        1 => c"rejected: the breaker did not permit the call",
        2 => c"a required pointer argument was NULL",
        3 => c"invalid configuration (see rb_last_error_field)",
        4 => c"buffer smaller than rb_breaker_size()",
        5 => c"buffer not aligned to rb_breaker_align()",
        6 => c"permit was issued by a different breaker",
        7 => c"enum argument out of range",
        8 => c"internal error caught at the C boundary",
        9 => c"permit was already recorded; nothing changed",
        10 => c"forced open: no retry time until rb_reset",
        #[cfg(unix)]
        20..=29 => shared::status_str(status),
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The library version, e.g. "0.1.0".
#[unsafe(no_mangle)]
pub extern "C" fn rb_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    V.as_ptr()
}

/// After RB_INVALID_CONFIG (or rb_breaker_size returning 0) on this thread: the name of the
/// offending rb_config field, as a static string. NULL if the last configuration on this
/// thread was valid or none was given.
#[unsafe(no_mangle)]
pub extern "C" fn rb_last_error_field() -> *const c_char {
    LAST_FIELD.with(Cell::get).map_or(core::ptr::null(), CStr::as_ptr)
}
