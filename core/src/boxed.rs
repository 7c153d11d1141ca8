//! `CircuitBreaker`: a heap-allocated breaker with any bucket count.

use alloc::boxed::Box;

use crate::breaker::Breaker;
use crate::config::Config;

/// A breaker on the heap, in one allocation made at construction and never again.
///
/// Dereferences to [`Breaker`], where every operation is documented.
///
/// ```
/// use ringbreaker::{CircuitBreaker, Config, Outcome, State};
/// let cfg = Config::builder().minimum_calls(2).failure_rate(0.5).build()?;
/// let b = CircuitBreaker::new(cfg);
/// for t in 1..=2 {
///     let permit = b.try_acquire(t).unwrap();
///     b.record(permit, Outcome::Failure, t);
/// }
/// assert_eq!(b.state(3), State::Open);
/// # Ok::<(), ringbreaker::ConfigError>(())
/// ```
pub struct CircuitBreaker {
    inner: Box<Breaker>,
}

impl CircuitBreaker {
    /// Build a breaker from a validated configuration.
    pub fn new(cfg: Config) -> Self {
        Self { inner: Breaker::boxed(cfg) }
    }
}

impl CircuitBreaker {
    /// Give up ownership, returning the address of the breaker's block (for a binding that
    /// hands it out as a handle). [`Breaker::from_raw`] views it; [`from_raw`](Self::from_raw)
    /// takes ownership back.
    pub fn into_raw(self) -> *mut u8 {
        Box::into_raw(self.inner).cast()
    }

    /// Take back ownership of a breaker released with [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `ptr` must come from `into_raw` and not have been passed here before.
    pub unsafe fn from_raw(ptr: *mut u8) -> Self {
        // SAFETY: `ptr` is the block of a `Box<Breaker>` (caller's guarantee), and `fat`
        // rebuilds the same fat pointer `Box::into_raw` produced.
        Self { inner: unsafe { Box::from_raw(Breaker::fat(ptr)) } }
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl core::ops::Deref for CircuitBreaker {
    type Target = Breaker;
    fn deref(&self) -> &Breaker {
        &self.inner
    }
}

impl core::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}
