//! Shared breakers: one breaker in a file mapped by many processes (`rb_shared_*`).
//!
//! `rb_shared_open` hands out an ordinary `rb_breaker*`: every `rb_*` call works on it. Pass
//! times from `rb_now_ns()` (CLOCK_MONOTONIC, one clock for the whole host) in every process.

use core::cell::RefCell;
use core::ffi::{CStr, c_char};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use ringbreaker::shared::{History, SharedBreaker, SharedError};
use ringbreaker::{Reason, State, Transition};

use crate::convert::{to_config, write_transition};
use crate::{rb_breaker, rb_status, rb_transition, set_last_field};

/// Regions this process opened, by the address of their breaker block.
static OPEN: Mutex<Option<HashMap<usize, SharedBreaker>>> = Mutex::new(None);

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(msg: Option<String>) {
    let c = msg.map(|m| CString::new(m.replace('\0', " ")).unwrap_or_default());
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn status_of(e: &SharedError) -> rb_status {
    match e {
        SharedError::Io { .. } | SharedError::InvalidName(_) => rb_status::RB_SHARED_IO,
        SharedError::AtomicsNotLockFree => rb_status::RB_SHARED_UNSUPPORTED,
        SharedError::NotARegion { .. } => rb_status::RB_SHARED_NOT_A_REGION,
        SharedError::Version { .. } => rb_status::RB_SHARED_VERSION_MISMATCH,
        SharedError::Layout { .. } => rb_status::RB_SHARED_LAYOUT_MISMATCH,
        SharedError::Config { .. } => rb_status::RB_SHARED_CONFIG_MISMATCH,
        SharedError::Truncated { .. } => rb_status::RB_SHARED_TRUNCATED,
        SharedError::Corrupt { .. } => rb_status::RB_SHARED_CORRUPT,
        SharedError::CreationTimeout { .. } => rb_status::RB_SHARED_CREATION_TIMEOUT,
        _ => rb_status::RB_SHARED_IO,
    }
}

/// Text of the shared-memory statuses, for `rb_status_str`.
pub(crate) fn status_str(status: u32) -> &'static CStr {
    match status {
        20 => c"shared region: a system call failed (see rb_shared_last_error)",
        21 => c"shared region: this target has no lock-free 64-bit atomics",
        22 => c"shared region: the file is not a ringbreaker region",
        23 => c"shared region: another format version",
        24 => c"shared region: another breaker layout (see rb_shared_last_error)",
        25 => c"shared region: another configuration (see rb_shared_last_error)",
        26 => c"shared region: the file is truncated",
        27 => c"shared region: the file is corrupt",
        28 => c"shared region: its creator did not finish in time",
        29 => c"not a breaker opened by rb_shared_open in this process",
        _ => c"unknown status",
    }
}

fn with_open<R>(f: impl FnOnce(&mut HashMap<usize, SharedBreaker>) -> R) -> R {
    let mut g = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

/// Open the shared breaker at `path` (e.g. "/dev/shm/ringbreaker.orders"), creating it with
/// `config` if it does not exist, else attaching to it. Attaching checks the format version,
/// the layout and the configuration, and refuses with a status saying which differs;
/// rb_shared_last_error() then has the details (each differing field, with both values). The
/// breaker's permits carry the region's id, the same in every process. Close with
/// rb_shared_close; the file stays until rb_shared_unlink.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `config` and `out` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_shared_open(
    path: *const c_char,
    config: *const crate::rb_config,
    out: *mut *mut rb_breaker,
) -> rb_status {
    ffi_boundary!({
        if path.is_null() || config.is_null() || out.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: non-null and NUL-terminated per the caller's contract.
        let path = Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(path) }.to_bytes()));
        // SAFETY: non-null and valid per the caller's contract.
        let cfg = match to_config(unsafe { &*config }) {
            Ok(c) => c,
            Err(e) => {
                set_last_field(Some(&e));
                set_last_error(Some(e.to_string()));
                return rb_status::RB_INVALID_CONFIG;
            }
        };
        set_last_field(None);
        match SharedBreaker::open(path, cfg) {
            Ok(s) => {
                set_last_error(None);
                let ptr = s.as_ptr();
                with_open(|m| m.insert(ptr as usize, s));
                // SAFETY: `out` is non-null and valid.
                unsafe { out.write(ptr.cast_mut().cast()) };
                rb_status::RB_OK
            }
            Err(e) => {
                let st = status_of(&e);
                set_last_error(Some(e.to_string()));
                st
            }
        }
    })
}

/// Unmap a breaker from rb_shared_open. The file and the other processes' mappings stay.
/// RB_NOT_SHARED for a breaker this process did not open with rb_shared_open (nothing is
/// done). Never close a breaker still in use by another thread.
///
/// # Safety
/// `b` must be NULL or a pointer; it is only compared, never dereferenced, unless registered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_shared_close(b: *mut rb_breaker) -> rb_status {
    ffi_boundary!({
        if b.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        match with_open(|m| m.remove(&(b as usize))) {
            Some(s) => {
                drop(s);
                rb_status::RB_OK
            }
            None => rb_status::RB_NOT_SHARED,
        }
    })
}

/// Remove the region's file. Processes that have it open keep using it; the next
/// rb_shared_open of the path creates a new, separate region.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_shared_unlink(path: *const c_char) -> rb_status {
    ffi_boundary!({
        if path.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: non-null and NUL-terminated per the caller's contract.
        let path = Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(path) }.to_bytes()));
        match SharedBreaker::unlink(path) {
            Ok(()) => {
                set_last_error(None);
                rb_status::RB_OK
            }
            Err(e) => {
                set_last_error(Some(e.to_string()));
                rb_status::RB_SHARED_IO
            }
        }
    })
}

/// After an rb_shared_* call failed on this thread: a description naming the path and what
/// differed or failed. NULL if the last one succeeded. Valid until the next rb_shared_* call
/// on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn rb_shared_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(core::ptr::null(), |c| c.as_ptr()))
}

fn state_of(s: crate::rb_breaker_state) -> Option<State> {
    State::from_u8(s as u32 as u8)
}

fn reason_of(r: crate::rb_reason) -> Option<Reason> {
    Reason::from_u8(u8::try_from(r as u32).ok()?)
}

/// Put a transition an rb_* call returned on a shared breaker into the region's journal, for
/// the other processes' rb_shared_history (calls on a shared breaker do not journal by
/// themselves). A transition with `occurred` false is ignored (RB_OK).
///
/// # Safety
/// `b` must be NULL or a pointer; `t` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_shared_journal(
    b: *mut rb_breaker,
    t: *const rb_transition,
) -> rb_status {
    ffi_boundary!({
        if b.is_null() || t.is_null() {
            return rb_status::RB_NULL_ARGUMENT;
        }
        // SAFETY: non-null and valid per the caller's contract.
        let t = unsafe { *t };
        if !t.occurred {
            return rb_status::RB_OK;
        }
        let (Some(from), Some(to), Some(reason)) =
            (state_of(t.from), state_of(t.to), reason_of(t.reason))
        else {
            return rb_status::RB_INVALID_ARGUMENT;
        };
        let tr = Transition { from, to, reason, generation: t.generation, at: t.at_ns };
        with_open(|m| match m.get(&(b as usize)) {
            Some(s) => {
                s.journal(&tr);
                rb_status::RB_OK
            }
            None => rb_status::RB_NOT_SHARED,
        })
    })
}

/// The transitions after generation `since` that the region's journal holds, oldest first:
/// up to `cap` are written to `out`, their number to `*out_count`. `*out_missed` counts the
/// generations after `since` whose transition the journal cannot show (overwritten by 64 newer
/// ones, or not journaled); `*out_generation` is the current generation, to pass as `since`
/// next time. Every transition bumps the generation by one, so a gap is never silent.
///
/// # Safety
/// `b` must be NULL or a pointer; `out` valid for `cap` elements (or NULL with `cap` 0); the
/// other out-pointers NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_shared_history(
    b: *const rb_breaker,
    since: u32,
    out: *mut rb_transition,
    cap: usize,
    out_count: *mut usize,
    out_missed: *mut u32,
    out_generation: *mut u32,
) -> rb_status {
    ffi_boundary!({
        if b.is_null() || out_count.is_null() || (out.is_null() && cap != 0) {
            return rb_status::RB_NULL_ARGUMENT;
        }
        let Some(History { transitions, missed, generation }) =
            with_open(|m| m.get(&(b as usize)).map(|s| s.history(since)))
        else {
            return rb_status::RB_NOT_SHARED;
        };
        let n = transitions.len().min(cap);
        for (i, t) in transitions.into_iter().take(n).enumerate() {
            // SAFETY: `out` is valid for `cap > i` elements.
            unsafe { write_transition(out.add(i), Some(t)) };
        }
        // SAFETY: checked non-null / NULL-or-valid per the caller's contract.
        unsafe {
            out_count.write(n);
            if !out_missed.is_null() {
                out_missed.write(missed);
            }
            if !out_generation.is_null() {
                out_generation.write(generation);
            }
        }
        rb_status::RB_OK
    })
}

/// The id stamped into this shared breaker's permits: drawn at random when the region was
/// created, the same in every process (0 for a breaker not opened by rb_shared_open).
///
/// # Safety
/// `b` must be NULL or a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rb_shared_id(b: *const rb_breaker) -> u32 {
    with_open(|m| m.get(&(b as usize)).map_or(0, SharedBreaker::id))
}
