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
