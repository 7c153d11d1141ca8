//! The tower layer against real tokio tasks and tower's own `ServiceBuilder` / `ServiceExt`.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::future::{Future, pending};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringbreaker::{CircuitBreaker, Config, Outcome, PermitKind, State, StaticBreaker, now_ns};
use ringbreaker_tower::{BreakerError, CircuitBreakerLayer};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const MS: u64 = 1_000_000;

fn breaker(cfg: ringbreaker::ConfigBuilder) -> Arc<CircuitBreaker> {
    Arc::new(CircuitBreaker::new(cfg.build().expect("valid config")))
}

/// A breaker that never trips on rates (minimum_calls far above what a test makes).
fn counting() -> Arc<CircuitBreaker> {
    breaker(Config::builder().minimum_calls(10_000))
}

/// A breaker in HalfOpen with a single trial permit: tripped by one failure, open for 1 ms.
async fn half_open() -> Arc<CircuitBreaker> {
    let b = breaker(Config::builder().minimum_calls(1).open_ns(MS).half_open_permits(1));
    let _ = b.call(|| Err::<(), _>(()));
    tokio::time::sleep(Duration::from_millis(3)).await;
    assert_eq!(b.state(now_ns()), State::HalfOpen);
    b
}

/// An inner service that counts its calls and answers `Ok(n)` or `Err("down")`.
fn echo(
    calls: Arc<AtomicUsize>,
) -> impl Service<Result<u16, &'static str>, Response = u16, Error = &'static str, Future: Send> + Clone
{
    service_fn(move |r: Result<u16, &'static str>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { r }
    })
}

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn ok_is_a_success_and_err_a_failure() {
    let b = counting();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(b.clone()))
        .service(echo(calls.clone()));
    for _ in 0..3 {
        assert_eq!(svc.ready().await.unwrap().call(Ok(200)).await.unwrap(), 200);
    }
    match svc.ready().await.unwrap().call(Err("down")).await {
        Err(BreakerError::Inner(e)) => assert_eq!(e, "down"),
        other => panic!("{other:?}"),
    }
    let m = b.snapshot(now_ns());
    assert_eq!((m.successes, m.failures, m.calls), (3, 1, 4));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_open_breaker_rejects_in_call_with_retry_after_and_never_calls_inner() {
    let b = breaker(Config::builder().minimum_calls(2).open_ns(60_000 * MS));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(echo(calls.clone()));
    for _ in 0..2 {
        let _ = svc.ready().await.unwrap().call(Err("down")).await;
    }
    assert_eq!(b.state(now_ns()), State::Open);

    // poll_ready does not fail (that would tell tower the service is dead for good)...
    let ready = std::future::poll_fn(|cx| svc.poll_ready(cx)).await;
    assert!(ready.is_ok());
    // ...the call is rejected at once.
    let err = svc.call(Ok(200)).await.expect_err("rejected");
    assert!(err.is_rejected());
    match &err {
        BreakerError::Rejected(r) => assert_eq!(r.state, State::Open),
        other => panic!("{other:?}"),
    }
    let after = err.retry_after().expect("Open says when to retry");
    assert!(after > Duration::ZERO && after <= Duration::from_secs(60), "{after:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "inner not called");
    assert_eq!(b.snapshot(now_ns()).rejected, 1);
}

#[tokio::test]
async fn forced_open_rejects_with_no_retry_after() {
    let b = counting();
    b.force_open(now_ns());
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(echo(Arc::default()));
    let err = svc.ready().await.unwrap().call(Ok(1)).await.expect_err("rejected");
    match &err {
        BreakerError::Rejected(r) => assert_eq!(r.state, State::ForcedOpen),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.retry_after(), None);
    assert!(err.to_string().contains("forced"), "{err}");
}

/// A service that is never ready.
#[derive(Clone)]
struct NeverReady;
impl Service<()> for NeverReady {
    type Response = ();
    type Error = &'static str;
    type Future = std::future::Ready<Result<(), &'static str>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }
    fn call(&mut self, _: ()) -> Self::Future {
        unreachable!("never ready")
    }
}

#[tokio::test]
async fn an_open_breaker_fails_fast_in_front_of_a_service_that_is_not_ready() {
    let b = counting();
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(NeverReady);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_pending(), "closed: waits for the inner service");
    // The pending poll_ready reserved a permit; dropping the service hands it back.
    b.trip(now_ns());
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(NeverReady);
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))), "open: ready to reject");
    let err = svc.call(()).await.expect_err("rejected");
    assert!(err.is_rejected());
}

#[tokio::test]
async fn the_classifier_decides_each_outcome() {
    let b = counting();
    let layer = CircuitBreakerLayer::new(b.clone()).classify(|r: &Result<u16, &str>| match r {
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(s) if *s >= 400 => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    });
    let mut svc = ServiceBuilder::new().layer(layer).service(echo(Arc::default()));
    for r in [Ok(200), Ok(201), Ok(503), Ok(404), Ok(404), Err("down")] {
        let got = svc.ready().await.unwrap().call(r).await;
        // The classifier decides what is recorded, not what the caller gets.
        assert_eq!(got.map_err(|e| e.into_inner().unwrap()), r);
    }
    let m = b.snapshot(now_ns());
    assert_eq!((m.successes, m.failures, m.calls), (2, 2, 4), "the 404s are not calls");
}

#[tokio::test]
async fn a_cancelled_request_is_ignored_and_hands_the_trial_back() {
    let b = half_open().await;
    let before = b.snapshot(now_ns());
    let hang = service_fn(|_: ()| async { pending::<Result<(), &str>>().await });
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(hang);
    let fut = svc.ready().await.unwrap().call(());
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_pending());
    // While that trial is out the breaker is full: another request is rejected.
    let mut other = CircuitBreakerLayer::new(b.clone()).layer(echo(Arc::default()));
    let err = other.ready().await.unwrap().call(Ok(1)).await.expect_err("full half-open");
    match err {
        BreakerError::Rejected(r) => assert_eq!(r.state, State::HalfOpen),
        e => panic!("{e:?}"),
    }
    // A client-side timeout drops the response future: not a call.
    let timed_out = tokio::time::timeout(Duration::from_millis(5), fut).await;
    assert!(timed_out.is_err());
    let m = b.snapshot(now_ns());
    assert_eq!(m.state, State::HalfOpen, "no transition");
    assert_eq!((m.calls, m.failures), (before.calls, before.failures), "not counted");
    // The trial is free again: the next request takes it and closes the breaker.
    assert_eq!(other.ready().await.unwrap().call(Ok(7)).await.unwrap(), 7);
    assert_eq!(b.state(now_ns()), State::Closed);
}

#[tokio::test]
async fn a_reservation_never_used_is_handed_back() {
    let b = half_open().await;
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(echo(Arc::default()));
    svc.ready().await.unwrap(); // reserves the only trial
    assert!(b.try_acquire(now_ns()).is_err(), "the trial is reserved");
    drop(svc);
    let trial = b.try_acquire(now_ns()).expect("handed back");
    assert_eq!(trial.kind(), PermitKind::Trial);
    b.record(trial, Outcome::Ignored, now_ns());
}

#[tokio::test]
async fn a_clone_holds_no_reservation() {
    let b = half_open().await;
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(echo(Arc::default()));
    svc.ready().await.unwrap();
    let mut clone = svc.clone();
    let err = clone.ready().await.unwrap().call(Ok(1)).await.expect_err("only one trial");
    assert!(err.is_rejected());
    assert_eq!(svc.call(Ok(2)).await.unwrap(), 2, "the original's reservation is intact");
    assert_eq!(b.state(now_ns()), State::Closed);
}

/// A service whose `poll_ready` fails.
struct Broken;
impl Service<()> for Broken {
    type Response = ();
    type Error = &'static str;
    type Future = std::future::Ready<Result<(), &'static str>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Err("broken"))
    }
    fn call(&mut self, _: ()) -> Self::Future {
        unreachable!("never ready")
    }
}

#[tokio::test]
async fn an_inner_poll_ready_error_is_returned_and_the_permit_goes_back() {
    let b = half_open().await;
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(Broken);
    match svc.ready().await {
        Err(BreakerError::Inner("broken")) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    let trial = b.try_acquire(now_ns()).expect("the trial went back");
    assert_eq!(trial.kind(), PermitKind::Trial);
    b.record(trial, Outcome::Ignored, now_ns());
}

#[tokio::test]
async fn a_panicking_request_records_a_failure() {
    let b = counting();
    let boom = service_fn(|_: ()| async {
        if true {
            panic!("boom");
        }
        Ok::<(), &str>(())
    });
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(boom);
    let fut = svc.ready().await.unwrap().call(());
    let joined = tokio::spawn(fut).await;
    assert!(joined.expect_err("panicked").is_panic());
    let m = b.snapshot(now_ns());
    assert_eq!((m.calls, m.failures), (1, 1));
}

#[tokio::test]
async fn a_half_open_trial_that_succeeds_closes_the_breaker() {
    let b = breaker(Config::builder().minimum_calls(2).open_ns(20 * MS));
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(echo(Arc::default()));
    for _ in 0..2 {
        let _ = svc.ready().await.unwrap().call(Err("down")).await;
    }
    let err = svc.ready().await.unwrap().call(Ok(1)).await.expect_err("open");
    tokio::time::sleep(err.retry_after().unwrap() + Duration::from_millis(2)).await;
    assert_eq!(svc.ready().await.unwrap().call(Ok(1)).await.unwrap(), 1);
    assert_eq!(b.state(now_ns()), State::Closed);
}

#[tokio::test]
async fn a_failed_trial_reopens_the_breaker() {
    let b = half_open().await;
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(echo(Arc::default()));
    let _ = svc.ready().await.unwrap().call(Err("still down")).await;
    assert_eq!(b.state(now_ns()), State::Open);
}

#[tokio::test]
async fn slow_responses_are_slow_calls() {
    let b = breaker(Config::builder().minimum_calls(10_000).slow_call_ns(50 * MS));
    let sleepy = service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, &str>(ms)
    });
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(sleepy);
    assert_eq!(svc.ready().await.unwrap().call(120).await.unwrap(), 120);
    assert_eq!(svc.ready().await.unwrap().call(0).await.unwrap(), 0);
    let m = b.snapshot(now_ns());
    assert_eq!((m.calls, m.slow_calls), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_on_many_tasks_share_one_breaker_and_count_every_request() {
    let b = counting();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let inner = service_fn(move |r: Result<u16, u16>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { r }
    });
    let svc = CircuitBreakerLayer::new(b.clone()).layer(inner);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let mut svc = svc.clone();
            tokio::spawn(async move {
                for i in 0..50u16 {
                    let req = if (t + i) % 4 == 0 { Err(i) } else { Ok(i) };
                    let _ = svc.ready().await.unwrap().call(req).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let m = b.snapshot(now_ns());
    assert_eq!(m.calls, 400);
    assert_eq!(m.failures, 100);
    assert_eq!(calls.load(Ordering::SeqCst), 400);
}

static STATIC_BREAKER: StaticBreaker<4> = {
    let cfg = match Config::builder().window_ns(4_000_000_000).buckets(4).minimum_calls(1).build() {
        Ok(c) => c,
        Err(_) => panic!("invalid config"),
    };
    match StaticBreaker::new(cfg) {
        Ok(b) => b,
        Err(_) => panic!("bucket count"),
    }
};

#[tokio::test]
async fn a_static_breaker_guards_a_service_too() {
    let mut svc = CircuitBreakerLayer::new(&STATIC_BREAKER).layer(echo(Arc::default()));
    assert_eq!(svc.ready().await.unwrap().call(Ok(1)).await.unwrap(), 1);
    let _ = svc.ready().await.unwrap().call(Err("down")).await;
    assert_eq!(svc.breaker().state(now_ns()), State::Open);
    let err = svc.ready().await.unwrap().call(Ok(1)).await.expect_err("open");
    assert!(err.is_rejected());
}

#[tokio::test]
async fn the_error_boxes_into_tower_s_box_error_with_its_source() {
    let b = counting();
    b.trip(now_ns());
    let svc = CircuitBreakerLayer::new(b.clone())
        .layer(service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("down")) }));
    let err = svc.oneshot(()).await.expect_err("rejected");
    let boxed: BoxError = err.into();
    assert!(boxed.to_string().contains("open"), "{boxed}");
    let source = boxed.source().expect("the core's Rejected");
    assert!(source.downcast_ref::<ringbreaker::Rejected>().is_some());
}

#[test]
#[should_panic(expected = "before poll_ready")]
fn call_without_poll_ready_panics() {
    let mut svc = CircuitBreakerLayer::new(counting()).layer(echo(Arc::default()));
    drop(svc.call(Ok(1)));
}

#[tokio::test]
async fn the_response_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let mut svc = CircuitBreakerLayer::new(counting()).layer(echo(Arc::default()));
    let fut = svc.ready().await.unwrap().call(Ok(1));
    is_send(&fut);
    let fut = pin!(fut);
    assert_eq!(fut.await.unwrap(), 1);
}

#[tokio::test]
async fn a_panic_is_recorded_during_the_unwind_even_if_the_future_is_dropped_later() {
    // A runtime (or a `catch_unwind` in user code) may catch the panic around `poll` and drop
    // the response future afterwards, outside the unwind.
    let b = counting();
    let boom = service_fn(|_: ()| async {
        if true {
            panic!("boom");
        }
        Ok::<(), &str>(())
    });
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(boom);
    let mut fut = Box::pin(svc.ready().await.unwrap().call(()));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(fut.as_mut())));
    assert!(caught.is_err());
    let m = b.snapshot(now_ns());
    assert_eq!((m.calls, m.failures), (1, 1), "recorded before the drop");
    drop(fut);
    assert_eq!(b.snapshot(now_ns()).calls, 1, "once");
}
