//! The one place the crate's atomics come from.
//!
//! Everything concurrent in this crate goes through this module, so the loom models in
//! `loom-tests/` check the real code: under `--cfg ringbreaker_loom` the types are loom's, on
//! targets without native 64-bit atomics they are `portable-atomic`'s, and otherwise `core`'s.

#[cfg(ringbreaker_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(all(not(ringbreaker_loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(all(not(ringbreaker_loom), not(target_has_atomic = "64")))]
pub(crate) use portable_atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Process-wide source of breaker identities. Deliberately not modelled by loom: identity is
/// assigned once per breaker and plays no part in the invariants the models check.
#[cfg(target_has_atomic = "32")]
pub(crate) static NEXT_BREAKER_ID: core::sync::atomic::AtomicU32 =
    core::sync::atomic::AtomicU32::new(1);

#[cfg(not(target_has_atomic = "32"))]
pub(crate) static NEXT_BREAKER_ID: portable_atomic::AtomicU32 = portable_atomic::AtomicU32::new(1);

/// Back off while another thread finishes publishing a transition it has already claimed (a
/// window of two stores). Under loom this yields so the model can schedule the publisher.
#[inline]
pub(crate) fn spin() {
    #[cfg(ringbreaker_loom)]
    loom::thread::yield_now();
    #[cfg(not(ringbreaker_loom))]
    core::hint::spin_loop();
}

/// This thread's stripe number (any `u32`; callers mask it with `stripes - 1`).
///
/// With `std`: a thread-local number handed out round-robin from a process-wide counter the
/// first time a thread needs one, so up to `stripes` threads never share a stripe. Without
/// `std` (no thread-locals): a hash of the address of a local on this thread's stack, which
/// differs between threads' stacks and stays put within one thread.
#[cfg(all(feature = "std", not(ringbreaker_loom)))]
#[inline]
pub(crate) fn thread_stripe() -> u32 {
    use core::cell::Cell;
    static NEXT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
    std::thread_local! {
        static STRIPE: Cell<u32> = const { Cell::new(u32::MAX) };
    }
    STRIPE.with(|s| {
        let v = s.get();
        if v != u32::MAX {
            return v;
        }
        let n = NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed) & 0xFFFF;
        s.set(n);
        n
    })
}

/// Under loom: the loom thread's index (0 for the model's main thread, then 1, 2, ... in spawn
/// order), read from its `ThreadId`'s digits. A model must touch the same atomics in every
/// execution of a schedule, which an address-derived number would not guarantee, and loom's
/// threads share the OS thread's thread-locals.
#[cfg(ringbreaker_loom)]
pub(crate) fn thread_stripe() -> u32 {
    struct Digits(u32);
    impl core::fmt::Write for Digits {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for b in s.bytes().filter(u8::is_ascii_digit) {
                self.0 = self.0.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
            }
            Ok(())
        }
    }
    let mut d = Digits(0);
    let _ = core::fmt::write(&mut d, format_args!("{:?}", loom::thread::current().id()));
    d.0
}

/// See the `std` version.
#[cfg(all(not(feature = "std"), not(ringbreaker_loom)))]
#[inline]
pub(crate) fn thread_stripe() -> u32 {
    let marker = 0u8;
    let addr = core::ptr::from_ref(&marker) as usize as u64;
    // Stacks are at least 64 KiB apart; the multiply spreads the bits above that over the top.
    (((addr >> 16).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 32) as u32
}
