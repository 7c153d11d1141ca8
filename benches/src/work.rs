//! The measured loops. Each is `#[inline(never)]` and takes its call count, so the criterion
//! benches and the `quick` binary time the same machine code, and a harness's own bookkeeping
//! (a closure's captured counter, criterion's `black_box` of each result) is not inside a call.
//!
//! Results are kept with [`keep`], an empty `asm!` that takes the value in a register, never
//! with `std::hint::black_box`: `black_box` makes the value's address escape, so the compiler
//! stores every result to the stack, and on x86 a store of a `lock xadd`'s result makes the next
//! locked instruction wait for it to drain. That inflated the old `fetch_add` floor by about
//! 40 % (see `floor_fetch_add_black_box`, kept to show the difference) and so flattered every
//! ratio against the floor. Without any keeping, the compiler may emit `lock add` (no result)
//! for the floor, which is not what a breaker does.
//!
//! Caller-supplied time advances by `step` ns a call. The default configuration has 1 s buckets
//! (10 s window, 10 buckets), so `STEP_STILL` (1 ns) never leaves a bucket in a run,
//! `STEP_REALISTIC` (1 µs) crosses a bucket boundary every 1,000,000 calls, and `STEP_WORST`
//! (one bucket) puts every call in a new bucket, so every call rotates one.
#![allow(clippy::missing_panics_doc)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use ringbreaker::{CircuitBreaker, Outcome, now_ns};
use ringbreaker_ffi::{rb_breaker, rb_outcome, rb_permit, rb_record, rb_status, rb_try_acquire};

use crate::OldDesign;

/// Caller time that stays in one bucket for the whole run: 1 ns a call.
pub const STEP_STILL: u64 = 1;
/// Caller time crossing 1 s buckets at a realistic rate: 1 µs a call (a boundary every 10⁶ calls).
pub const STEP_REALISTIC: u64 = 1_000;
/// The worst case: every call in a new 1 s bucket.
pub const STEP_WORST: u64 = 1_000_000_000;

/// Keep `v` alive in a register: an empty `asm!` that reads it, touches no memory and has no
/// other effect. Stops the compiler dropping or weakening the computation of `v` without the
/// stack store `black_box` costs.
#[inline(always)]
pub fn keep(v: u64) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the template is a comment: no instruction, no memory, no flags touched.
    unsafe {
        core::arch::asm!("/* keep {0} */", in(reg) v, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    black_box(v);
}

/// `r`, laundered through an empty `asm!` so the compiler cannot see what it points to (call it
/// once, outside a loop, instead of `black_box(&x)` on every call).
#[inline(always)]
pub fn opaque<T>(r: &T) -> &T {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let mut p = core::ptr::from_ref(r);
        // SAFETY: the template is a comment; `p` comes back unchanged.
        unsafe {
            core::arch::asm!("/* opaque {0} */", inout(reg) p, options(nostack, preserves_flags));
        }
        // SAFETY: `p` is `r`, unchanged.
        unsafe { &*p }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    black_box(r)
}

/// Floor: `n` × `fetch_add` on `c`, each result kept in a register.
#[inline(never)]
pub fn floor_fetch_add(c: &AtomicU64, n: u64) {
    let c = opaque(c);
    for _ in 0..n {
        keep(c.fetch_add(1, Ordering::AcqRel));
    }
}

/// The floor of an exact, stamped counter: `n` × (load the word, check its stamp, swap in the
/// word + 1), each result kept in a register. A breaker's window cannot use a blind
/// `fetch_add` — the stamp must be checked before the count changes or a stale record would be
/// visible for an instant — so this load-then-swap is the least one exact record costs; the
/// ratio to it says how much the breaker adds beyond the protocol itself.
#[inline(never)]
pub fn floor_load_cas(c: &AtomicU64, n: u64) {
    let c = opaque(c);
    for _ in 0..n {
        let mut cur = c.load(Ordering::Acquire);
        loop {
            if cur >> 48 != 0 {
                break;
            }
            match c.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(v) => {
                    keep(v);
                    break;
                }
                Err(v) => cur = v,
            }
        }
    }
}

/// The old floor, for comparison only: each result through `black_box` (a stack store).
#[inline(never)]
pub fn floor_fetch_add_black_box(c: &AtomicU64, n: u64) {
    let c = opaque(c);
    for _ in 0..n {
        black_box(c.fetch_add(1, Ordering::AcqRel));
    }
}

/// Floor: `n` default clock reads.
#[inline(never)]
pub fn floor_clock(n: u64) {
    for _ in 0..n {
        keep(now_ns());
    }
}

/// Floor: `n` coarse clock reads (what `call()` reads when it needs no duration).
#[inline(never)]
pub fn floor_clock_coarse(n: u64) {
    for _ in 0..n {
        keep(ringbreaker::now_ns_coarse());
    }
}

/// Floor: `n` × (clock read + `fetch_add`).
#[inline(never)]
pub fn floor_clock_fetch_add(c: &AtomicU64, n: u64) {
    let c = opaque(c);
    for _ in 0..n {
        keep(c.fetch_add(now_ns() & 1, Ordering::AcqRel));
    }
}

/// `n` × `try_acquire` + `record(Success)` at caller time `now + step`, `now + 2·step`, ...;
/// returns the last time used.
#[inline(never)]
pub fn acquire_record(cb: &CircuitBreaker, mut now: u64, step: u64, n: u64) -> u64 {
    let cb = opaque(cb);
    for _ in 0..n {
        now += step;
        match cb.try_acquire(now) {
            Ok(p) => keep(u64::from(cb.record(p, Outcome::Success, now).is_some())),
            Err(_) => keep(u64::MAX),
        }
    }
    now
}

/// The same loop with one default clock read a call for the time: the baseline `call()` is
/// held to.
#[inline(never)]
pub fn acquire_record_clock(cb: &CircuitBreaker, n: u64) {
    let cb = opaque(cb);
    for _ in 0..n {
        let now = now_ns();
        match cb.try_acquire(now) {
            Ok(p) => keep(u64::from(cb.record(p, Outcome::Success, now).is_some())),
            Err(_) => keep(u64::MAX),
        }
    }
}

/// The same loop with one coarse clock read a call: the baseline `call()` is held to when it
/// needs no duration (slow-call detection off), the case in which it reads the coarse clock.
#[inline(never)]
pub fn acquire_record_coarse(cb: &CircuitBreaker, n: u64) {
    let cb = opaque(cb);
    for _ in 0..n {
        let now = ringbreaker::now_ns_coarse();
        match cb.try_acquire(now) {
            Ok(p) => keep(u64::from(cb.record(p, Outcome::Success, now).is_some())),
            Err(_) => keep(u64::MAX),
        }
    }
}

/// `n` × `call(|| Ok(1))`: the guard, its clock handling, and the record.
#[inline(never)]
pub fn call(cb: &CircuitBreaker, n: u64) {
    let cb = opaque(cb);
    for _ in 0..n {
        keep(u64::from(cb.call(|| Ok::<u32, ()>(1)).is_ok()));
    }
}

/// `n` × acquire + `record(Failure)` at caller time (the breaker must not trip).
#[inline(never)]
pub fn acquire_record_failure(cb: &CircuitBreaker, mut now: u64, step: u64, n: u64) -> u64 {
    let cb = opaque(cb);
    for _ in 0..n {
        now += step;
        match cb.try_acquire(now) {
            Ok(p) => keep(u64::from(cb.record(p, Outcome::Failure, now).is_some())),
            Err(_) => keep(u64::MAX),
        }
    }
    now
}

/// `n` × `try_acquire` at `now` on an open breaker (each one rejected).
#[inline(never)]
pub fn rejected(cb: &CircuitBreaker, now: u64, n: u64) {
    let cb = opaque(cb);
    for _ in 0..n {
        keep(u64::from(cb.try_acquire(now).is_err()));
    }
}

/// `n` × `snapshot(now)`.
#[inline(never)]
pub fn snapshot(cb: &CircuitBreaker, now: u64, n: u64) {
    let cb = opaque(cb);
    for _ in 0..n {
        keep(cb.snapshot(now).calls);
    }
}

/// `n` × `rb_try_acquire` + `rb_record` through the C ABI (the `extern "C"` functions, called
/// across the crate boundary, so not inlined), at caller time as [`acquire_record`].
///
/// # Safety
/// `b` must be a live breaker from `rb_breaker_new`.
#[inline(never)]
pub unsafe fn ffi_acquire_record(b: *mut rb_breaker, mut now: u64, step: u64, n: u64) -> u64 {
    let mut p = rb_permit { breaker_id: 0, generation: 0, kind: 0, slot: 0 };
    for _ in 0..n {
        now += step;
        // SAFETY: `b` is live (this function's contract); the out-params are a local and NULL
        // (allowed).
        let ok = unsafe {
            rb_try_acquire(b, now, &mut p, core::ptr::null_mut()) == rb_status::RB_OK
                && rb_record(
                    b,
                    &mut p,
                    rb_outcome::RB_SUCCESS as u32,
                    0,
                    now,
                    core::ptr::null_mut(),
                ) == rb_status::RB_OK
        };
        keep(u64::from(ok));
    }
    now
}

/// `n` × recloser's `call(|| Ok(1))`.
#[inline(never)]
pub fn recloser(rc: &recloser::Recloser, n: u64) {
    let rc = opaque(rc);
    for _ in 0..n {
        keep(u64::from(rc.call(|| Ok::<u32, ()>(1)).is_ok()));
    }
}

/// `n` × failsafe's `call(|| Ok(1))`.
#[inline(never)]
pub fn failsafe<B: failsafe::CircuitBreaker>(fs: &B, n: u64) {
    let fs = opaque(fs);
    for _ in 0..n {
        keep(u64::from(fs.call(|| Ok::<u32, ()>(1)).is_ok()));
    }
}

/// `n` × the old design's allow + record(success) at caller time.
#[inline(never)]
pub fn old_design(old: &OldDesign, mut now: u64, n: u64) -> u64 {
    let old = opaque(old);
    for _ in 0..n {
        now += 1;
        if old.allow(now) {
            old.record(true, now);
        }
    }
    now
}
