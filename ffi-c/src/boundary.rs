//! The panic boundary every export goes through, written once.

use core::panic::AssertUnwindSafe;

use ringbreaker::Breaker;

use crate::types::{rb_breaker, rb_status};

/// Run an export's body so that a panic becomes `RB_PANIC` and never unwinds into C. With
/// `breaker b`, the body first gets `b` as a `&Breaker`, or the export returns
/// `RB_NULL_ARGUMENT` for NULL. Every `rb_*` function that can fail uses this one macro.
macro_rules! ffi_boundary {
    (breaker $b:ident, $body:block) => {
        $crate::boundary::guard(move || {
            // SAFETY: the export's contract: `$b` is NULL or a live breaker of this library.
            let Some($b) = (unsafe { $crate::boundary::breaker($b) }) else {
                return $crate::types::rb_status::RB_NULL_ARGUMENT;
            };
            $body
        })
    };
    ($body:block) => {
        $crate::boundary::guard(move || $body)
    };
}

/// `f` under `catch_unwind`: its status, or `RB_PANIC`. Inlined into each export, and `f` a
/// `move` closure holding the arguments by value: a closure borrowing them made every export
/// spill its arguments to the stack and read them back through pointers, and an out-of-line
/// `guard` added a call and a frame to each (together: 14.8 → 10.4 ns, 266 → 208 instructions
/// for an rb_try_acquire + rb_record pair; `make bench-callgrind`, `hotpath c_abi`).
#[inline(always)]
pub(crate) fn guard(f: impl FnOnce() -> rb_status) -> rb_status {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(rb_status::RB_PANIC)
}

/// The breaker behind a handle, or `None` for NULL.
///
/// # Safety
/// `b` must be NULL or a live breaker from this library.
pub(crate) unsafe fn breaker<'a>(b: *const rb_breaker) -> Option<&'a Breaker> {
    // SAFETY: forwarded from the caller.
    (!b.is_null()).then(|| unsafe { Breaker::from_raw(b.cast()) })
}
