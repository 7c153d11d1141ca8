//! Guarded calls with the default clock (`std` only).

use core::fmt;

use crate::breaker::Breaker;
use crate::clock::{coarse_clock_serves, now_ns, now_ns_coarse};
use crate::types::{Key, Outcome, Permit, PermitKind, Rejected, Transition};

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
    pending: Pending<'a>,
    transition: Option<Transition>,
}

impl PermitGuard<'_> {
    /// The transition acquiring this permit caused (Open → HalfOpen), if any.
    pub fn transition(&self) -> Option<Transition> {
        self.transition
    }

    /// Record a success.
    pub fn success(mut self) -> Option<Transition> {
        self.pending.finish(Outcome::Success)
    }

    /// Record a failure.
    pub fn failure(mut self) -> Option<Transition> {
        self.pending.finish(Outcome::Failure)
    }

    /// Record that the call says nothing about the resource (not a call).
    pub fn ignore(mut self) -> Option<Transition> {
        self.pending.finish(Outcome::Ignored)
    }
}

/// An outcome still owed for a permit: recorded once, by `finish`, or as a failure on drop.
/// Holds the permit taken apart (12 bytes) rather than the `Permit` with its transition: a
/// guard that carried the whole permit was moved through memory with mismatched load and store
/// widths on every `call()` (store-forwarding stalls; see benches/README.md).
struct Pending<'a> {
    breaker: &'a Breaker,
    key: Key,
    /// When the call started; read only if slow-call detection is on (otherwise the duration
    /// is never used and the clock is read once, when the outcome is recorded).
    started: Option<u64>,
    done: bool,
}

impl Pending<'_> {
    #[inline]
    fn finish(&mut self, outcome: Outcome) -> Option<Transition> {
        if self.done {
            return None;
        }
        self.done = true;
        // No duration to measure and a plain window record: the coarse clock is enough (see
        // `clock`); anything that decides from elapsed time reads the precise one.
        let now = if self.started.is_none()
            && self.key.kind == PermitKind::Normal
            && coarse_clock_serves(self.breaker.config())
        {
            now_ns_coarse()
        } else {
            now_ns()
        };
        let duration = self.started.map(|started| now.saturating_sub(started));
        self.breaker.record_key(self.key, outcome, duration, now)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.finish(Outcome::Failure);
    }
}

impl Breaker {
    /// Ask for a permit now (default clock), as a guard that records itself. The clock is read
    /// here only when the state or slow-call detection needs it.
    pub fn acquire(&self) -> Result<PermitGuard<'_>, Rejected> {
        let (permit, started) = self.acquire_now()?;
        let transition = permit.transition();
        Ok(PermitGuard { pending: self.pending(&permit, started), transition })
    }

    /// A permit now, and the start time when slow-call detection needs one.
    #[inline]
    fn acquire_now(&self) -> Result<(Permit, Option<u64>), Rejected> {
        let started = self.config().slow_call_ns().map(|_| now_ns());
        let permit = match started {
            Some(t) => self.try_acquire(t)?,
            None => match self.try_acquire_without_time() {
                Some(p) => p,
                None => self.try_acquire(now_ns())?,
            },
        };
        Ok((permit, started))
    }

    #[inline]
    fn pending(&self, permit: &Permit, started: Option<u64>) -> Pending<'_> {
        Pending { breaker: self, key: permit.key(), started, done: false }
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
        let (permit, started) = self.acquire_now().map_err(CallError::Rejected)?;
        let mut pending = self.pending(&permit, started);
        match f() {
            Ok(v) => {
                pending.finish(Outcome::Success);
                Ok(v)
            }
            Err(e) => {
                pending.finish(Outcome::Failure);
                Err(CallError::Failed(e))
            }
        }
    }
}
