//! The one place the crate's atomics come from.
//!
//! Everything concurrent in this crate goes through this module, so the loom models in
//! `loom-tests/` check the real code: under `--cfg ringbreaker_loom` the types are loom's, on
//! targets without native 64-bit atomics they are `portable-atomic`'s, and otherwise `core`'s.

#[cfg(ringbreaker_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(all(not(ringbreaker_loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(all(not(ringbreaker_loom), not(target_has_atomic = "64")))]
pub(crate) use portable_atomic::{AtomicU32, AtomicU64, Ordering};

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
