//! A [tower](https://docs.rs/tower) middleware that guards a service with a [`ringbreaker`] circuit breaker.
//!
//! ```
//! use std::sync::Arc;
//! use ringbreaker::{CircuitBreaker, Config};
//! use ringbreaker_tower::{BreakerError, CircuitBreakerLayer};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker = Arc::new(CircuitBreaker::new(Config::builder().minimum_calls(2).build()?));
//! let mut svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service_fn(|fail: bool| async move {
//!         if fail { Err(std::io::Error::other("down")) } else { Ok("up") }
//!     });
//!
//! assert_eq!(svc.ready().await?.call(false).await?, "up");
//! assert!(svc.ready().await?.call(true).await.is_err()); // 1 failure in 2 calls: 50 % trips it
//! match svc.ready().await?.call(false).await {
//!     Err(BreakerError::Rejected(r)) => assert!(r.retry_after_ns.is_some()), // fast, not called
//!     other => panic!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Where the breaker is checked: `poll_ready`, rejected in `call`
//!
//! [`CircuitBreakerService::poll_ready`] asks the breaker for a permit and keeps it for the next
//! `call`, the way tower's `ConcurrencyLimit` keeps a semaphore permit. A rejection is *not*
//! returned from `poll_ready`: tower's contract is that an error there means the service has
//! failed for good and the caller should drop it (a `Buffer` or a balancer would), while an open
//! breaker is a passing condition. Nor does `poll_ready` return `Pending` until the breaker
//! would admit: that would need a timer, tie the layer to one runtime, and turn "fail fast"
//! into "wait". So, as tower's `LoadShed` does when its inner service is not ready,
//! `poll_ready` returns `Ready(Ok(()))` and stores the rejection, and the next `call` returns a
//! future that is immediately [`BreakerError::Rejected`], carrying the core's
//! [`Rejected`] with its `retry_after_ns`
//! ([`BreakerError::retry_after`] as a `Duration`). The inner service is not called.
//!
//! The breaker is asked first, and the inner service's `poll_ready` only once a permit is
//! held: an open breaker rejects at once even in front of a service that is not ready (the
//! dependency that tripped it is often the one that is overloaded). A permit held while the
//! inner service is not ready stays reserved; the call's timing starts in `call`, so the wait
//! for readiness is never counted as a slow call. A later `poll_ready` after a stored rejection
//! asks the breaker again.
//!
//! # One permit per request, recorded once
//!
//! `call` moves the reserved permit into the response future, which records it when the inner
//! future completes, with the [`Outcome`] the classifier gives the result (by default
//! [`ErrIsFailure`]: `Ok` a success, `Err` a failure; see [`CircuitBreakerLayer::classify`]).
//! The duration is measured when slow-call detection is on. What else can happen to a permit:
//!
//! * The response future is dropped before it completes (a timeout, `select!`, an aborted
//!   task): [`Outcome::Ignored`], not a call; a half-open trial goes back at once. The same
//!   policy as [`Breaker::call_async`](ringbreaker::Breaker::call_async) and Python's
//!   `asyncio.CancelledError`. Wrap the service in a timeout *inside* this layer (so the
//!   timeout is an `Err` the classifier sees) to count timeouts as failures.
//! * The inner future panics: a failure, recorded during the unwind.
//! * A permit reserved by `poll_ready` but never used (the service dropped before `call`):
//!   [`Outcome::Ignored`].
//! * The inner service's `poll_ready` fails: the reserved permit is [`Outcome::Ignored`] and the
//!   error is returned as [`BreakerError::Inner`] (the service is broken; no call was made).
//!
//! Clones of the service share the breaker (each has its own reservation, none at first).
//!
//! One consequence of never answering `Pending` for an open breaker: behind a load balancer
//! that picks endpoints by readiness and latency (tower's p2c `Balance`), an endpoint whose
//! breaker is open still looks ready, and its fast rejections look like low latency. Put the
//! layer around the balancer, or let the balancer's own failure handling see the rejections.
//!
//! # Which breakers
//!
//! Anything that implements [`BreakerRef`]: an `Arc` of a [`CircuitBreaker`] or of a
//! [`StaticBreaker`](ringbreaker::StaticBreaker), or a `&'static` one.
//!
//! Calling `call` without a `poll_ready` that returned `Ready(Ok(()))` first panics, as tower's
//! contract allows.
//!
//! [`CircuitBreaker`]: ringbreaker::CircuitBreaker

// A std-only crate: the workspace's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use ringbreaker::{Breaker, Outcome, Permit, Rejected, now_ns};
use tower_layer::Layer;
use tower_service::Service;

/// A shared reference to a breaker, cheap to clone into every service and response future.
pub trait BreakerRef: Clone + Send + Sync + 'static {
    /// The breaker.
    fn breaker(&self) -> &Breaker;
}

impl<T> BreakerRef for Arc<T>
where
    T: Deref<Target = Breaker> + Send + Sync + 'static,
{
    fn breaker(&self) -> &Breaker {
        self
    }
}

impl<T> BreakerRef for &'static T
where
    T: Deref<Target = Breaker> + Send + Sync + 'static,
{
    fn breaker(&self) -> &Breaker {
        self
    }
}

/// Decides what a response says about the protected resource.
pub trait Classify<T, E> {
    /// The outcome to record for `result`. [`Outcome::Ignored`] makes it not a call.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, `Err` a failure.
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrIsFailure;

impl<T, E> Classify<T, E> for ErrIsFailure {
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// The error of a guarded service.
#[derive(Debug)]
pub enum BreakerError<E> {
    /// The breaker did not permit the request; the inner service was not called.
    Rejected(Rejected),
    /// The inner service's error (from `poll_ready` or from its response future).
    Inner(E),
}

impl<E> BreakerError<E> {
    /// For a rejection, how long until a request could be admitted (`None` for ForcedOpen,
    /// which waits for a manual reset, and for inner errors).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BreakerError::Rejected(r) => r.retry_after_ns.map(Duration::from_nanos),
            BreakerError::Inner(_) => None,
        }
    }

    /// Whether the breaker rejected the request.
    pub fn is_rejected(&self) -> bool {
        matches!(self, BreakerError::Rejected(_))
    }

    /// The inner service's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            BreakerError::Rejected(_) => None,
            BreakerError::Inner(e) => Some(e),
        }
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Rejected(r) => r.fmt(f),
            BreakerError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BreakerError::Rejected(r) => Some(r),
            BreakerError::Inner(e) => Some(e),
        }
    }
}

/// A permit that records itself: with the classified outcome when the response arrives,
/// [`Outcome::Ignored`] when dropped unused or cancelled, a failure when dropped by a panic.
struct OwnedPermit<B: BreakerRef> {
    breaker: B,
    permit: Option<Permit>,
    /// When the call started, if slow-call detection is on.
    started: Option<u64>,
}

impl<B: BreakerRef> OwnedPermit<B> {
    /// Ask `breaker` for a permit now. The clock is read only when the state needs it.
    fn acquire(breaker: &B) -> Result<Self, Rejected> {
        let b = breaker.breaker();
        let permit = match b.try_acquire_without_time() {
            Some(p) => p,
            None => b.try_acquire(now_ns())?,
        };
        Ok(Self { breaker: breaker.clone(), permit: Some(permit), started: None })
    }

    fn start(&mut self) {
        if self.breaker.breaker().config().slow_call_ns().is_some() {
            self.started = Some(now_ns());
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        let Some(permit) = self.permit.take() else { return };
        let b = self.breaker.breaker();
        let now = now_ns();
        let _ = match self.started {
            Some(started) => b.record_timed(permit, outcome, now.saturating_sub(started), now),
            None => b.record(permit, outcome, now),
        };
    }
}

impl<B: BreakerRef> Drop for OwnedPermit<B> {
    fn drop(&mut self) {
        self.finish(if std::thread::panicking() { Outcome::Failure } else { Outcome::Ignored });
    }
}

/// Records a failure if dropped while a panic unwinds out of the inner future's `poll` (a
/// runtime that catches the panic drops the response future later, outside the unwind).
struct PanicBomb<'a, B: BreakerRef>(&'a mut OwnedPermit<B>);

impl<B: BreakerRef> Drop for PanicBomb<'_, B> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.finish(Outcome::Failure);
        }
    }
}

/// Applies [`CircuitBreakerService`] to a service. See the [crate docs](crate).
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<B, C = ErrIsFailure> {
    breaker: B,
    classify: C,
}

impl<B: BreakerRef> CircuitBreakerLayer<B> {
    /// Guard services with `breaker`, counting `Err` responses as failures.
    pub fn new(breaker: B) -> Self {
        Self { breaker, classify: ErrIsFailure }
    }
}

impl<B: BreakerRef, C> CircuitBreakerLayer<B, C> {
    /// Classify responses with `classify` instead: a function of `&Result<Response, Error>`
    /// (or any [`Classify`]) returning the [`Outcome`] to record. For example, an HTTP client's
    /// 5xx responses as failures, and its 4xx as not calls:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use ringbreaker::{CircuitBreaker, Outcome};
    /// # use ringbreaker_tower::CircuitBreakerLayer;
    /// let layer = CircuitBreakerLayer::new(Arc::new(CircuitBreaker::default()))
    ///     .classify(|r: &Result<u16, std::io::Error>| match r {
    ///         Ok(status) if *status >= 500 => Outcome::Failure,
    ///         Ok(status) if *status >= 400 => Outcome::Ignored,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     });
    /// ```
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<B, C2> {
        CircuitBreakerLayer { breaker: self.breaker, classify }
    }
}

impl<S, B: BreakerRef, C: Clone> Layer<S> for CircuitBreakerLayer<B, C> {
    type Service = CircuitBreakerService<S, B, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.breaker.clone(), self.classify.clone())
    }
}

enum Reserved<B: BreakerRef> {
    None,
    Permit(OwnedPermit<B>),
    Rejected(Rejected),
}

/// A service guarded by a breaker. See the [crate docs](crate) for where the breaker is
/// checked and how each request's permit is recorded.
pub struct CircuitBreakerService<S, B: BreakerRef, C = ErrIsFailure> {
    inner: S,
    breaker: B,
    classify: C,
    reserved: Reserved<B>,
}

impl<S, B: BreakerRef, C> CircuitBreakerService<S, B, C> {
    /// Guard `inner` with `breaker`, classifying results with `classify`.
    pub fn new(inner: S, breaker: B, classify: C) -> Self {
        Self { inner, breaker, classify, reserved: Reserved::None }
    }

    /// The breaker.
    pub fn breaker(&self) -> &Breaker {
        self.breaker.breaker()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service (a reserved permit is recorded as [`Outcome::Ignored`]).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, B: BreakerRef, C: Clone> Clone for CircuitBreakerService<S, B, C> {
    /// A clone shares the breaker and holds no reservation.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.breaker.clone(), self.classify.clone())
    }
}

impl<S: fmt::Debug, B: BreakerRef, C> fmt::Debug for CircuitBreakerService<S, B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reserved = match &self.reserved {
            Reserved::None => "none",
            Reserved::Permit(_) => "permit",
            Reserved::Rejected(_) => "rejected",
        };
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.breaker())
            .field("reserved", &reserved)
            .finish()
    }
}

impl<S, B, C, Req> Service<Req> for CircuitBreakerService<S, B, C>
where
    S: Service<Req>,
    B: BreakerRef,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.reserved, Reserved::Permit(_)) {
            match OwnedPermit::acquire(&self.breaker) {
                Ok(p) => self.reserved = Reserved::Permit(p),
                Err(r) => {
                    self.reserved = Reserved::Rejected(r);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        if let Err(e) = ready!(self.inner.poll_ready(cx)) {
            self.reserved = Reserved::None; // the permit goes back as Ignored
            return Poll::Ready(Err(BreakerError::Inner(e)));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match std::mem::replace(&mut self.reserved, Reserved::None) {
            Reserved::Permit(mut permit) => {
                permit.start();
                ResponseFuture {
                    kind: Kind::Called {
                        inner: self.inner.call(req),
                        permit: Some(permit),
                        classify: self.classify.clone(),
                    },
                }
            }
            Reserved::Rejected(r) => ResponseFuture { kind: Kind::Rejected { rejected: Some(r) } },
            Reserved::None => {
                panic!("CircuitBreakerService::call before poll_ready returned Ready(Ok(()))")
            }
        }
    }
}

pin_project! {
    /// The response future of [`CircuitBreakerService`]: it owns the request's permit and
    /// records it when the inner future completes (or as [`Outcome::Ignored`] if dropped first).
    pub struct ResponseFuture<F, B: BreakerRef, C> {
        #[pin]
        kind: Kind<F, B, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B: BreakerRef, C> {
        Called { #[pin] inner: F, permit: Option<OwnedPermit<B>>, classify: C },
        Rejected { rejected: Option<Rejected> },
    }
}

impl<F, B: BreakerRef, C> fmt::Debug for ResponseFuture<F, B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, T, E, B, C> Future for ResponseFuture<F, B, C>
where
    F: Future<Output = Result<T, E>>,
    B: BreakerRef,
    C: Classify<T, E>,
{
    type Output = Result<T, BreakerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Rejected { rejected } => {
                let r = rejected.take().expect("ResponseFuture polled after completion");
                Poll::Ready(Err(BreakerError::Rejected(r)))
            }
            KindProj::Called { inner, permit, classify } => {
                let held = permit.as_mut().expect("ResponseFuture polled after completion");
                let bomb = PanicBomb(held);
                let result = ready!(inner.poll(cx));
                drop(bomb);
                let mut held = permit.take().expect("held above");
                held.finish(classify.classify(&result));
                Poll::Ready(result.map_err(BreakerError::Inner))
            }
        }
    }
}
