//! Guarded calls of futures with the default clock (`std` only).
//!
//! [`Breaker::call_async`] is [`Breaker::call`] for a future: one permit per call, the outcome
//! read from the future's `Result`, the call timed when slow-call detection is on. It needs no
//! runtime: it works under tokio, async-std, smol or a hand-written executor alike.
//!
//! # A dropped future is not a call
//!
//! A future dropped before it completes (a `select!` that took another branch, a timeout, an
//! aborted task, a client that went away) records [`Outcome::Ignored`](crate::Outcome::Ignored):
//! it says nothing about the protected resource, so it is not counted in the window, and in
//! half-open it hands its trial permit back at once rather than holding it until its lease
//! lapses. This is the Python binding's policy for `asyncio.CancelledError` too. A caller whose
//! cancellations do mean "the resource is too slow" (a timeout around the call) should record
//! them as failures themselves, e.g. by putting the timeout inside the future and mapping it to
//! an `Err`.
//!
//! A panic while the future is polled records a failure and unwinds, as in [`Breaker::call`].
//!
//! This differs on purpose from a [`PermitGuard`] dropped without a result, which records a
//! failure: that drop is the call itself ending early (a `?`, a panic), while a dropped future
//! is the caller no longer waiting, which says nothing about the resource.

use core::future::Future;

use crate::breaker::Breaker;
use crate::guard::{CallError, PermitGuard};

/// Records the guard's permit as [`Ignored`](crate::Outcome::Ignored) when the call is dropped
/// before it completes, or as a failure when it is dropped by a panic's unwinding.
struct CancelGuard<'a>(Option<PermitGuard<'a>>);

impl<'a> CancelGuard<'a> {
    fn disarm(mut self) -> PermitGuard<'a> {
        self.0.take().expect("armed until disarmed")
    }
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if let Some(guard) = self.0.take() {
            if std::thread::panicking() {
                let _ = guard.failure();
            } else {
                let _ = guard.ignore();
            }
        }
    }
}

impl Breaker {
    /// Await `fut` if the breaker permits it, recording `Ok` as a success and `Err` as a
    /// failure; the async form of [`call`](Self::call).
    ///
    /// The permit is asked for (and, with slow-call detection on, the clock first read) when the
    /// returned future is first polled, not when `call_async` is called: a call future that is
    /// never polled takes no permit. On rejection `fut` is dropped without being polled.
    ///
    /// Dropped before it completes (cancelled), the call records
    /// [`Outcome::Ignored`](crate::Outcome::Ignored): not a call, and a half-open trial permit
    /// goes back at once. A panic while `fut` is polled records a failure. See the
    /// [module docs](crate#features) and the README's "Async Rust and tower".
    ///
    /// ```
    /// use ringbreaker::{CallError, CircuitBreaker};
    /// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// #     loop { if let core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// let b = CircuitBreaker::default();
    /// let r: Result<u32, CallError<&str>> = block_on(b.call_async(async { Ok(42) }));
    /// assert_eq!(r, Ok(42));
    /// let r = block_on(b.call_async(async { Err::<u32, _>("down") }));
    /// assert_eq!(r, Err(CallError::Failed("down")));
    /// ```
    pub async fn call_async<T, E, F>(&self, fut: F) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let guard = CancelGuard(Some(self.acquire().map_err(CallError::Rejected)?));
        let result = fut.await;
        let guard = guard.disarm();
        match result {
            Ok(v) => {
                let _ = guard.success();
                Ok(v)
            }
            Err(e) => {
                let _ = guard.failure();
                Err(CallError::Failed(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use core::panic::AssertUnwindSafe;
    use core::pin::{Pin, pin};
    use core::sync::atomic::{AtomicBool, Ordering};
    use core::task::{Context, Poll, Waker};
    use core::time::Duration;
    use std::panic::catch_unwind;

    use super::*;
    use crate::{CircuitBreaker, Config, Outcome, PermitKind, State};

    const MS: u64 = 1_000_000;

    fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        loop {
            if let Poll::Ready(v) = poll_once(f.as_mut()) {
                return v;
            }
        }
    }

    /// Pending on its first poll, then `Ready(v)`.
    struct YieldOnce<T>(Option<T>, bool);
    impl<T: Unpin> Future for YieldOnce<T> {
        type Output = T;
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
            if !self.1 {
                self.1 = true;
                return Poll::Pending;
            }
            Poll::Ready(self.0.take().expect("polled after completion"))
        }
    }

    fn tripping() -> CircuitBreaker {
        let cfg = Config::builder()
            .minimum_calls(2)
            .failure_rate(0.5)
            .open_ns(3_600_000 * MS)
            .build()
            .unwrap();
        CircuitBreaker::new(cfg)
    }

    /// A breaker already in HalfOpen with one trial permit (its open duration is 1 ns).
    fn half_open() -> CircuitBreaker {
        let cfg =
            Config::builder().minimum_calls(1).open_ns(1).half_open_permits(1).build().unwrap();
        let b = CircuitBreaker::new(cfg);
        let _ = b.call(|| Err::<(), _>(()));
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(b.state(crate::now_ns()), State::HalfOpen, "tripped, open duration over");
        b
    }

    #[test]
    fn ok_is_a_success_and_err_a_failure() {
        let b = CircuitBreaker::default();
        assert_eq!(block_on(b.call_async(async { Ok::<_, ()>(7) })), Ok(7));
        assert_eq!(block_on(b.call_async(YieldOnce(Some(Ok::<u8, ()>(1)), false))), Ok(1));
        assert_eq!(
            block_on(b.call_async(async { Err::<(), _>("x") })),
            Err(CallError::Failed("x"))
        );
        let m = b.snapshot(crate::now_ns());
        assert_eq!((m.successes, m.failures), (2, 1));
    }

    #[test]
    fn rejected_call_never_polls_the_future() {
        let b = tripping();
        for _ in 0..2 {
            let _ = block_on(b.call_async(async { Err::<(), _>(()) }));
        }
        let polled = AtomicBool::new(false);
        let r = block_on(b.call_async(async {
            polled.store(true, Ordering::Relaxed);
            Ok::<_, ()>(())
        }));
        match r {
            Err(CallError::Rejected(rej)) => {
                assert_eq!(rej.state, State::Open);
                let after = rej.retry_after_ns.expect("Open says when to retry");
                assert!(after > 0 && after <= 3_600_000 * MS, "{after}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(!polled.load(Ordering::Relaxed));
        assert_eq!(b.snapshot(crate::now_ns()).rejected, 1);
    }

    #[test]
    fn an_unpolled_call_takes_no_permit() {
        let b = half_open();
        let never = b.call_async(async { Ok::<_, ()>(()) });
        drop(never);
        // The only trial permit is still there.
        let trial = b.try_acquire(crate::now_ns()).expect("trial still free");
        assert_eq!(trial.kind(), PermitKind::Trial);
        b.record(trial, Outcome::Ignored, crate::now_ns());
    }

    #[test]
    fn a_dropped_call_is_ignored_and_hands_the_trial_back() {
        let b = half_open();
        let mut call = Box::pin(b.call_async(YieldOnce(Some(Ok::<_, ()>(())), false)));
        assert!(poll_once(call.as_mut()).is_pending(), "the trial is out, the call in flight");
        assert!(b.try_acquire(crate::now_ns()).is_err(), "the single trial is taken");
        let before = b.snapshot(crate::now_ns());
        drop(call); // cancelled
        let m = b.snapshot(crate::now_ns());
        assert_eq!(m.state, State::HalfOpen, "no transition");
        assert_eq!((m.calls, m.failures), (before.calls, before.failures), "not a call");
        let trial = b.try_acquire(crate::now_ns()).expect("the trial came back");
        assert_eq!(trial.kind(), PermitKind::Trial);
        let t = b.record(trial, Outcome::Success, crate::now_ns()).expect("closes");
        assert_eq!(t.to, State::Closed);
    }

    #[test]
    fn a_dropped_call_in_closed_counts_nothing() {
        let b = CircuitBreaker::default();
        let mut call = Box::pin(b.call_async(YieldOnce(Some(Err::<(), _>(())), false)));
        assert!(poll_once(call.as_mut()).is_pending());
        drop(call);
        let m = b.snapshot(crate::now_ns());
        assert_eq!((m.calls, m.failures, m.successes), (0, 0, 0));
    }

    struct PanicOnPoll;
    impl Future for PanicOnPoll {
        type Output = Result<(), ()>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            panic!("boom")
        }
    }

    #[test]
    fn a_panic_records_a_failure_while_unwinding() {
        let b = CircuitBreaker::default();
        // As a runtime does it: the panic is caught around `poll`, the future dropped later.
        let mut call = Box::pin(b.call_async(PanicOnPoll));
        let r = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
        assert!(r.is_err(), "the panic propagates");
        let m = b.snapshot(crate::now_ns());
        assert_eq!((m.calls, m.failures), (1, 1), "recorded during the unwind, before the drop");
        drop(call);
        assert_eq!(b.snapshot(crate::now_ns()).calls, 1, "and only once");
    }

    #[test]
    fn slow_calls_are_timed() {
        let cfg = Config::builder().slow_call_ns(50 * MS).build().unwrap();
        let b = CircuitBreaker::new(cfg);
        let slow = async {
            std::thread::sleep(Duration::from_millis(80));
            Ok::<_, ()>(())
        };
        assert_eq!(block_on(b.call_async(slow)), Ok(()));
        assert_eq!(block_on(b.call_async(async { Ok::<_, ()>(()) })), Ok(()));
        let m = b.snapshot(crate::now_ns());
        assert_eq!((m.calls, m.slow_calls), (2, 1));
    }

    #[test]
    fn the_call_future_is_send_when_its_parts_are() {
        fn is_send<T: Send>(_: &T) {}
        let b = CircuitBreaker::default();
        let f = b.call_async(async { Ok::<_, ()>(()) });
        is_send(&f);
    }
}
