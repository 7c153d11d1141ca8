//! The C ABI of ringbreaker. Every export is `extern "C"`, never unwinds (a panic becomes
//! `RB_PANIC`), writes its out-parameters only on success, and answers NULL with
//! `RB_NULL_ARGUMENT`. The header `include/ringbreaker.h` is generated from this crate: the
//! types in `types`, the functions here and in `shared`, one panic boundary (`boundary`).

#[macro_use]
mod boundary;
mod convert;
mod limits;
#[cfg(unix)]
mod shared;
mod types;

use core::cell::Cell;
use core::ffi::{CStr, c_char};
use core::mem::MaybeUninit;

use ringbreaker::{Breaker, CircuitBreaker, ConfigError, Outcome, Permit, PlaceError, RecordError};

pub use limits::*;
pub use types::*;

use convert::{to_config, to_metrics, to_state, write_transition};

thread_local! {
    static LAST_FIELD: Cell<Option<&'static CStr>> = const { Cell::new(None) };
}

fn set_last_field(e: Option<&ConfigError>) {
    let field = e.map(|e| convert::field_cstr(e.field()));
    LAST_FIELD.with(|c| c.set(field));
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
    ffi_boundary!({
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
    let _ = ffi_boundary!({
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
            Breaker::layout(c.ring_len()).size()
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
    ffi_boundary!({
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

/// Write `p` to `out` as an rb_permit.
///
/// # Safety
/// `out` must be valid for writes.
#[inline(always)]
unsafe fn write_permit(out: *mut rb_permit, p: &Permit) {
    let raw = p.to_raw();
    // SAFETY: forwarded from the caller.
    unsafe {
        out.write(rb_permit {
            breaker_id: raw.breaker_id,
            generation: raw.generation,
            kind: u32::from(raw.kind),
            slot: u32::from(raw.slot),
        });
    }
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
    b: *mut rb_breaker,
    now_ns: u64,
    out_permit: *mut rb_permit,
    out_transition: *mut rb_transition,
) -> rb_status {
    ffi_boundary!(breaker b, {
        if out_permit.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // Closed, MetricsOnly and Disabled admit without the time and cause no transition: the
        // permit goes straight to the caller, 16 bytes in registers, instead of through the
        // 40-byte `Permit` and the `Result` the other states need.
        if let Some(p) = b.try_acquire_without_time() {
            // SAFETY: checked non-null; NULL or valid per the caller's contract.
            unsafe {
                write_permit(out_permit, &p);
                write_transition(out_transition, None);
            }
            return rb_status::RB_OK;
        }
        match b.try_acquire(now_ns) {
            Ok(p) => {
                // SAFETY: checked non-null; NULL or valid per the caller's contract.
                unsafe {
                    write_permit(out_permit, &p);
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
    b: *mut rb_breaker,
    permit: *mut rb_permit,
    outcome: u32,
    duration_ns: u64,
    now_ns: u64,
    out_transition: *mut rb_transition,
) -> rb_status {
    ffi_boundary!(breaker b, {
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
    ffi_boundary!(breaker b, {
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
    b: *mut rb_breaker,
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
    ffi_boundary!(breaker b, {
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
    ffi_boundary!(breaker b, {
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
    b: *mut rb_breaker,
    out: *mut rb_transition,
    op: impl FnOnce(&Breaker) -> Option<ringbreaker::Transition>,
) -> rb_status {
    ffi_boundary!(breaker b, {
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
    b: *mut rb_breaker,
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
    b: *mut rb_breaker,
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
    b: *mut rb_breaker,
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
    b: *mut rb_breaker,
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
    b: *mut rb_breaker,
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
