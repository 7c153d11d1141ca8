//! Guarded calls with the default clock (`std` only).

use core::fmt;

use crate::breaker::Breaker;
use crate::clock::now_ns;
use crate::types::{Outcome, Permit, Rejected, Transition};

/// A [`Breaker::call`] that did not return a value.
#[derive(Debug, PartialEq)]
pub enum CallError<E> {
    /// The breaker did not permit the call; the closure was not run.
    Rejected(Rejected),
    /// The closure ran and returned this error, recorded as a failure.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => r.fmt(f),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Failed(e) => Some(e),
        }
    }
}

/// A permit that records itself. Report the outcome with [`success`](Self::success),
/// [`failure`](Self::failure) or [`ignore`](Self::ignore); if the guard is dropped without one
/// (a panic, an early return, a `?`), it records a failure, so no permit is ever leaked.
/// (A future given to [`Breaker::call_async`] and dropped before it completes is a
/// cancellation instead, recorded as [`Outcome::Ignored`].)
#[must_use = "dropping the guard records a failure"]
pub struct PermitGuard<'a> {
    breaker: &'a Breaker,
    permit: Option<Permit>,
    /// When the call started; read only if slow-call detection is on (otherwise the duration
    /// is never used and the clock is read once, when the outcome is recorded).
    started: Option<u64>,
}

impl PermitGuard<'_> {
    /// The transition acquiring this permit caused (Open → HalfOpen), if any.
    pub fn transition(&self) -> Option<Transition> {
        self.permit.as_ref().and_then(Permit::transition)
    }

    /// Record a success.
    pub fn success(mut self) -> Option<Transition> {
        self.finish(Outcome::Success)
    }

    /// Record a failure.
    pub fn failure(mut self) -> Option<Transition> {
        self.finish(Outcome::Failure)
    }

    /// Record that the call says nothing about the resource (not a call).
    pub fn ignore(mut self) -> Option<Transition> {
        self.finish(Outcome::Ignored)
    }

    fn finish(&mut self, outcome: Outcome) -> Option<Transition> {
        let permit = self.permit.take()?;
        let now = now_ns();
        match self.started {
            Some(started) => {
                self.breaker.record_timed(permit, outcome, now.saturating_sub(started), now)
            }
            None => self.breaker.record(permit, outcome, now),
        }
    }
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        self.finish(Outcome::Failure);
    }
}

impl Breaker {
    /// Ask for a permit now (default clock), as a guard that records itself. The clock is read
    /// here only when the state or slow-call detection needs it.
    pub fn acquire(&self) -> Result<PermitGuard<'_>, Rejected> {
        let started = self.config().slow_call_ns().map(|_| now_ns());
        let permit = match started {
            Some(t) => self.try_acquire(t)?,
            None => match self.try_acquire_without_time() {
                Some(p) => p,
                None => self.try_acquire(now_ns())?,
            },
        };
        Ok(PermitGuard { breaker: self, permit: Some(permit), started })
    }

    /// Run `f` if the breaker permits it, timing it when slow-call detection is on, and recording
    /// `Ok` as a success and `Err` as a failure. A panic in `f` records a failure and unwinds.
    ///
    /// ```
    /// use ringbreaker::{CallError, CircuitBreaker};
    /// let b = CircuitBreaker::default();
    /// let r: Result<u32, CallError<&str>> = b.call(|| Ok(42));
    /// assert_eq!(r, Ok(42));
    /// assert_eq!(b.call(|| Err::<u32, _>("down")), Err(CallError::Failed("down")));
    /// ```
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        let guard = self.acquire().map_err(CallError::Rejected)?;
        match f() {
            Ok(v) => {
                guard.success();
                Ok(v)
            }
            Err(e) => {
                guard.failure();
                Err(CallError::Failed(e))
            }
        }
    }
}
