//! `NativeBreaker`: a core breaker plus a clock, an exception classifier and listener hooks.

use core::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use ringbreaker::{CircuitBreaker, Config, ConfigError, Outcome, RawPermit, Rejected, Transition};

use crate::clock::Clock;

/// Objects the pure-Python package hands over once at import: its exception classes and the
/// function that delivers transitions to listeners.
struct Hooks {
    circuit_open: Py<PyType>,
    foreign_permit: Py<PyType>,
    dispatch: Py<PyAny>,
}

static HOOKS: PyOnceLock<Hooks> = PyOnceLock::new();

/// Called once by `ringbreaker/__init__.py`.
#[pyfunction]
pub fn set_hooks(
    py: Python<'_>,
    circuit_open: Bound<'_, PyType>,
    foreign_permit: Bound<'_, PyType>,
    dispatch: Bound<'_, PyAny>,
) -> PyResult<()> {
    let hooks = Hooks {
        circuit_open: circuit_open.unbind(),
        foreign_permit: foreign_permit.unbind(),
        dispatch: dispatch.unbind(),
    };
    HOOKS.set(py, hooks).map_err(|_| PyValueError::new_err("hooks are already set"))
}

fn hooks(py: Python<'_>) -> PyResult<&Hooks> {
    HOOKS
        .get(py)
        .ok_or_else(|| PyValueError::new_err("import ringbreaker, not ringbreaker._native"))
}

/// Which exceptions count as failures, which are ignored.
pub struct Classifier {
    failure_on: Vec<Matcher>,
    ignore: Vec<Matcher>,
}

enum Matcher {
    Type(Py<PyType>),
    Predicate(Py<PyAny>),
}

impl Classifier {
    fn from_py(param: &str, items: &Bound<'_, PyTuple>) -> PyResult<Vec<Matcher>> {
        let py = items.py();
        let base = py.get_type::<pyo3::exceptions::PyBaseException>();
        items
            .iter()
            .map(|item| match item.cast::<PyType>() {
                Ok(t) if t.is_subclass(&base)? => Ok(Matcher::Type(t.clone().unbind())),
                Ok(t) => Err(PyTypeError::new_err(format!(
                    "{param}: {} is not an exception type",
                    t.name()?
                ))),
                Err(_) if item.is_callable() => Ok(Matcher::Predicate(item.unbind())),
                Err(_) => Err(PyTypeError::new_err(format!(
                    "{param}: expected exception types or predicates, got {}",
                    item.get_type().name()?
                ))),
            })
            .collect()
    }

    fn matches(py: Python<'_>, ms: &[Matcher], exc: &Bound<'_, PyAny>) -> PyResult<bool> {
        for m in ms {
            let hit = match m {
                Matcher::Type(t) => exc.is_instance(t.bind(py))?,
                Matcher::Predicate(f) => f.bind(py).call1((exc,))?.is_truthy()?,
            };
            if hit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// ignore → Ignored; failure_on → Failure; any other `Exception` → Success (the call
    /// reached the resource and it answered); anything else (`CancelledError`,
    /// `KeyboardInterrupt`, `SystemExit`, `GeneratorExit`) → Ignored: it says nothing about
    /// the resource.
    pub fn outcome(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        if Self::matches(py, &self.ignore, exc)? {
            return Ok(Outcome::Ignored);
        }
        if Self::matches(py, &self.failure_on, exc)? {
            return Ok(Outcome::Failure);
        }
        Ok(if exc.is_instance_of::<PyException>() { Outcome::Success } else { Outcome::Ignored })
    }
}

/// A state change, as delivered to the Python dispatcher.
#[pyclass(frozen, module = "ringbreaker._native", name = "Transition")]
pub struct NativeTransition {
    #[pyo3(get)]
    from_state: u8,
    #[pyo3(get)]
    to_state: u8,
    #[pyo3(get)]
    generation: u32,
    #[pyo3(get)]
    at_ns: u64,
    #[pyo3(get)]
    reason: &'static str,
}

impl From<Transition> for NativeTransition {
    fn from(t: Transition) -> Self {
        NativeTransition {
            from_state: t.from as u8,
            to_state: t.to as u8,
            generation: t.generation,
            at_ns: t.at,
            reason: t.reason.as_str(),
        }
    }
}

/// Permission to make one call; record it exactly once.
#[pyclass(frozen, module = "ringbreaker._native")]
pub struct Permit {
    raw: RawPermit,
    /// `None` when the breaker issued it without reading the clock (see `untimed`).
    started_ns: Option<u64>,
    used: AtomicBool,
}

#[pymethods]
impl Permit {
    /// The generation of the state it was issued in.
    #[getter]
    fn generation(&self) -> u32 {
        self.raw.generation
    }
    /// 0 normal, 1 half-open trial, 2 pass-through (disabled).
    #[getter]
    fn kind(&self) -> u8 {
        self.raw.kind
    }
    /// A half-open trial permit's slot in its generation (each trial has its own); 0 otherwise.
    #[getter]
    fn slot(&self) -> u16 {
        self.raw.slot
    }
    /// Clock reading when it was issued; `None` if the breaker did not need one (no slow-call
    /// detection, a native clock, and a state that permits without the time).
    #[getter]
    fn started_ns(&self) -> Option<u64> {
        self.started_ns
    }
    fn __repr__(&self) -> String {
        format!("Permit(generation={}, kind={})", self.raw.generation, self.raw.kind)
    }
}

/// The native breaker behind `ringbreaker.CircuitBreaker`.
#[pyclass(frozen, module = "ringbreaker._native")]
pub struct NativeBreaker {
    inner: crate::shared::Inner,
    name: Py<PyString>,
    clock: Clock,
    classifier: Classifier,
    listeners: Py<PyList>,
}

/// Python parameter name for a core config field.
fn param(e: &ConfigError) -> &'static str {
    match e.field() {
        "window_ns" => "window",
        "slow_call_ns" => "slow_call_duration",
        "open_ns" => "open_duration",
        "max_open_ns" => "max_open_duration",
        "half_open_timeout_ns" => "half_open_timeout",
        other => other,
    }
}

impl NativeBreaker {
    #[inline]
    fn dispatch(&self, py: Python<'_>, t: Option<Transition>) {
        let Some(t) = t else { return };
        if self.listeners.bind(py).is_empty() {
            return;
        }
        let result = hooks(py).and_then(|h| {
            h.dispatch.call1(
                py,
                (self.name.clone_ref(py), self.listeners.clone_ref(py), NativeTransition::from(t)),
            )
        });
        if let Err(e) = result {
            // The dispatcher logs listener errors itself; anything reaching here is a bug in
            // it, reported without disturbing the guarded call.
            e.write_unraisable(py, None);
        }
    }

    fn open_error(&self, py: Python<'_>, r: &Rejected) -> PyErr {
        match hooks(py) {
            Ok(h) => {
                let retry = r.retry_after_ns.map(|ns| ns as f64 / 1e9);
                PyErr::from_type(
                    h.circuit_open.bind(py).clone(),
                    (self.name.clone_ref(py), r.state as u8, retry),
                )
            }
            Err(e) => e,
        }
    }

    fn take(&self, py: Python<'_>, permit: &Permit) -> PyResult<ringbreaker::Permit> {
        if permit.raw.breaker_id != self.inner.id() {
            let h = hooks(py)?;
            return Err(PyErr::from_type(
                h.foreign_permit.bind(py).clone(),
                format!(
                    "permit was issued by another breaker, not {:?}",
                    self.name.bind(py).to_str()?
                ),
            ));
        }
        if permit.used.swap(true, Ordering::AcqRel) {
            return Err(PyValueError::new_err("permit: already recorded"));
        }
        ringbreaker::Permit::from_raw(permit.raw)
            .ok_or_else(|| PyValueError::new_err("permit: invalid"))
    }

    /// The permit behind a token from `_enter`: a plain int (`generation | kind << 32`, issued
    /// untimed) or a `Permit` (issued with a start time). An int is only ever paired with this
    /// breaker's id, so a forged one can at worst be counted as stale, like a forged
    /// `RawPermit`.
    fn untoken(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
    ) -> PyResult<(ringbreaker::Permit, Option<u64>)> {
        match token.extract::<u64>() {
            Ok(bits) if bits >> 34 == 0 => {
                let raw = RawPermit {
                    breaker_id: self.inner.id(),
                    generation: bits as u32,
                    kind: (bits >> 32) as u8,
                    slot: 0, // untimed tokens are never half-open trials
                };
                let p = ringbreaker::Permit::from_raw(raw)
                    .ok_or_else(|| PyValueError::new_err("token: not one this breaker issued"))?;
                Ok((p, None))
            }
            Ok(_) => Err(PyValueError::new_err("token: not one this breaker issued")),
            Err(_) => {
                let permit = token.cast::<Permit>()?.get();
                Ok((self.take(py, permit)?, permit.started_ns))
            }
        }
    }

    /// Record `outcome` now for a permit that started at `start` (if known), and deliver the
    /// transition it caused.
    fn finish(
        &self,
        py: Python<'_>,
        p: ringbreaker::Permit,
        start: Option<u64>,
        outcome: Outcome,
    ) -> PyResult<()> {
        let now = self.clock.read(py)?;
        let duration = start.map_or(0, |s| now.saturating_sub(s));
        let t = self.inner.record_timed(p, outcome, duration, now);
        self.dispatch(py, t);
        Ok(())
    }

    /// How an exception a guarded call raised is recorded, and the classifier's own error (a
    /// predicate that raised), which is recorded as a failure and then re-raised.
    fn classify_raised(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> (Outcome, Option<PyErr>) {
        match self.classifier.outcome(py, exc) {
            Ok(o) => (o, None),
            Err(e) => (Outcome::Failure, Some(e)),
        }
    }

    /// A permit taken without reading the clock, when nothing needs its start time and the
    /// state permits without the time.
    fn acquire_untimed(&self) -> Option<ringbreaker::Permit> {
        if self.untimed() { self.inner.try_acquire_without_time() } else { None }
    }

    /// Neither slow-call detection nor a Python clock: a call's start time is never needed.
    fn untimed(&self) -> bool {
        self.inner.config().slow_call_ns().is_none() && self.clock.infallible()
    }

    fn now(&self, py: Python<'_>, now: Option<u64>) -> PyResult<u64> {
        match now {
            Some(n) => Ok(n),
            None => self.clock.read(py),
        }
    }

    /// One guarded call: acquire, run, classify, record — one crossing into native code, no
    /// lock held across `func`.
    pub fn guarded_call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        // Without slow-call detection the duration is never used: in a state that permits
        // without the time, read the clock once, after the call (a read costs more than the
        // breaker). A Python clock is always read up front, where its error can be raised.
        let (permit, start) = match self.acquire_untimed() {
            Some(p) => (p, None),
            None => {
                let start = self.clock.read(py)?;
                match self.inner.try_acquire(start) {
                    Ok(p) => (p, Some(start)),
                    Err(r) => {
                        self.dispatch(py, r.transition);
                        return Err(self.open_error(py, &r));
                    }
                }
            }
        };
        self.dispatch(py, permit.transition());
        let result = func.call(args, kwargs);
        // Without a start the clock is native and cannot fail.
        let end = self.clock.read(py).unwrap_or(start.unwrap_or_default());
        let start = start.unwrap_or(end);
        let (outcome, classify_err) = match &result {
            Ok(_) => (Outcome::Success, None),
            Err(e) => self.classify_raised(py, e.value(py).as_any()),
        };
        let t = self.inner.record_timed(permit, outcome, end.saturating_sub(start), end);
        self.dispatch(py, t);
        if let Some(ce) = classify_err {
            return Err(ce);
        }
        result.map(Bound::unbind)
    }
}

type Snapshot = (u8, u32, u64, u64, u64, u64, f64, f64, u64, u64, Option<u64>, u64);

#[pymethods]
impl NativeBreaker {
    #[new]
    #[pyo3(signature = (name, *, window_ns, buckets, failure_rate, minimum_calls, consecutive_failures,
        slow_call_ns, slow_call_rate, open_ns, max_open_ns, backoff_multiplier, half_open_permits,
        half_open_timeout_ns, failure_on, ignore, clock, listeners))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: Bound<'_, PyString>,
        window_ns: u64,
        buckets: u32,
        failure_rate: f64,
        minimum_calls: u32,
        consecutive_failures: u32,
        slow_call_ns: Option<u64>,
        slow_call_rate: f64,
        open_ns: u64,
        max_open_ns: Option<u64>,
        backoff_multiplier: f64,
        half_open_permits: u32,
        half_open_timeout_ns: Option<u64>,
        failure_on: Bound<'_, PyTuple>,
        ignore: Bound<'_, PyTuple>,
        clock: Option<Bound<'_, PyAny>>,
        listeners: Bound<'_, PyList>,
    ) -> PyResult<Self> {
        let mut b = Config::builder()
            .window_ns(window_ns)
            .buckets(buckets)
            .failure_rate(failure_rate)
            .minimum_calls(minimum_calls)
            .consecutive_failures(consecutive_failures)
            .slow_call_rate(slow_call_rate)
            .open_ns(open_ns)
            .backoff_multiplier(backoff_multiplier)
            .half_open_permits(half_open_permits);
        if let Some(ns) = slow_call_ns {
            b = b.slow_call_ns(ns);
        }
        if let Some(ns) = max_open_ns {
            b = b.max_open_ns(ns);
        }
        if let Some(ns) = half_open_timeout_ns {
            b = b.half_open_timeout_ns(ns);
        }
        let cfg = b.build().map_err(|e| {
            let p = param(&e);
            PyValueError::new_err(format!("{p}: {}", e.to_string().replacen(e.field(), p, 1)))
        })?;
        Ok(NativeBreaker {
            inner: CircuitBreaker::new(cfg).into(),
            name: name.unbind(),
            clock: Clock::from_py(clock)?,
            classifier: Classifier {
                failure_on: Classifier::from_py("failure_on", &failure_on)?,
                ignore: Classifier::from_py("ignore", &ignore)?,
            },
            listeners: listeners.unbind(),
        })
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// A clock reading, in nanoseconds.
    fn now_ns(&self, py: Python<'_>) -> PyResult<u64> {
        self.clock.read(py)
    }

    /// `acquire` for the package's own wrappers (coroutines, `with` blocks): when the breaker
    /// needs no start time, the permit as a plain int, so a guarded call allocates no permit
    /// object; otherwise a `Permit`. Not public API.
    fn _enter(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(p) = self.acquire_untimed() {
            let raw = p.to_raw();
            let bits = u64::from(raw.generation) | (u64::from(raw.kind) << 32);
            return Ok(bits.into_pyobject(py)?.into_any().unbind());
        }
        Ok(Bound::new(py, self.acquire(py, None)?)?.into_any().unbind())
    }

    /// Record a success for a token from `_enter`. Not public API.
    fn _leave(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let (p, start) = self.untoken(py, token)?;
        self.finish(py, p, start, Outcome::Success)
    }

    /// Record the exception a call raised, classified, for a token from `_enter`. Not public
    /// API.
    fn _leave_exception(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        exc: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (p, start) = self.untoken(py, token)?;
        let (outcome, err) = self.classify_raised(py, exc);
        self.finish(py, p, start, outcome)?;
        err.map_or(Ok(()), Err)
    }

    /// A permit, or `CircuitOpenError`.
    #[pyo3(signature = (now = None))]
    fn acquire(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Permit> {
        if now.is_none()
            && let Some(p) = self.acquire_untimed()
        {
            // No start time: it only ever feeds a duration, which nothing reads when untimed.
            return Ok(Permit { raw: p.to_raw(), started_ns: None, used: AtomicBool::new(false) });
        }
        let now = self.now(py, now)?;
        match self.inner.try_acquire(now) {
            Ok(p) => {
                let t = p.transition();
                let permit =
                    Permit { raw: p.to_raw(), started_ns: Some(now), used: AtomicBool::new(false) };
                self.dispatch(py, t);
                Ok(permit)
            }
            Err(r) => {
                self.dispatch(py, r.transition);
                Err(self.open_error(py, &r))
            }
        }
    }

    /// Record a permit's outcome: 0 success, 1 failure, 2 ignored. `duration_ns` defaults to
    /// the time since the permit was issued.
    #[pyo3(signature = (permit, outcome, duration_ns = None, now = None))]
    fn record(
        &self,
        py: Python<'_>,
        permit: &Permit,
        outcome: u8,
        duration_ns: Option<u64>,
        now: Option<u64>,
    ) -> PyResult<()> {
        let outcome = match outcome {
            0 => Outcome::Success,
            1 => Outcome::Failure,
            2 => Outcome::Ignored,
            _ => return Err(PyValueError::new_err("outcome: expected 0, 1 or 2")),
        };
        let p = self.take(py, permit)?;
        let now = self.now(py, now)?;
        let duration =
            duration_ns.unwrap_or_else(|| now.saturating_sub(permit.started_ns.unwrap_or(now)));
        // try_record, so a half-open trial permit the core has seen before (only reachable
        // through a 2^32-generation wrap, since this Permit object refuses a second use) is
        // refused as the core says, not swallowed.
        let t = match self.inner.try_record(p, outcome, Some(duration), now) {
            Ok(t) => t,
            Err(ringbreaker::RecordError::AlreadyRecorded) => {
                return Err(PyValueError::new_err("permit: already recorded"));
            }
            Err(ringbreaker::RecordError::ForeignPermit) => {
                return Err(PyValueError::new_err("permit: issued by another breaker"));
            }
        };
        self.dispatch(py, t);
        Ok(())
    }

    /// Record a permit whose call raised `exc`, classified by `failure_on` / `ignore`.
    fn record_exception(
        &self,
        py: Python<'_>,
        permit: &Permit,
        exc: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let p = self.take(py, permit)?;
        let (outcome, err) = self.classify_raised(py, exc);
        self.finish(py, p, permit.started_ns, outcome)?;
        err.map_or(Ok(()), Err)
    }

    /// How `exc` would be recorded: 0 success, 1 failure, 2 ignored.
    fn classify(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<u8> {
        Ok(self.classifier.outcome(py, exc)? as u8)
    }

    /// Run `func(*args, **kwargs)` guarded.
    #[pyo3(signature = (func, *args, **kwargs))]
    fn call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        self.guarded_call(py, func, args, kwargs)
    }

    /// (state, generation, calls, successes, failures, slow_calls, failure_rate,
    /// slow_call_rate, rejected, stale, time_until_half_open_ns, open_ns)
    #[pyo3(signature = (now = None))]
    fn snapshot(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Snapshot> {
        let m = self.inner.snapshot(self.now(py, now)?);
        Ok((
            m.state as u8,
            m.generation,
            m.calls,
            m.successes,
            m.failures,
            m.slow_calls,
            m.failure_rate,
            m.slow_call_rate,
            m.rejected,
            m.stale,
            m.time_until_half_open_ns,
            m.open_ns,
        ))
    }

    /// The state the next acquire would find.
    #[pyo3(signature = (now = None))]
    fn state(&self, py: Python<'_>, now: Option<u64>) -> PyResult<u8> {
        Ok(self.inner.state(self.now(py, now)?) as u8)
    }

    /// Nanoseconds until a call could be admitted, as a rejection at `now` carries it (0 when
    /// a call would be permitted; `None` when forced open).
    #[pyo3(signature = (now = None))]
    fn retry_after(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Option<u64>> {
        Ok(self.inner.retry_after(self.now(py, now)?))
    }

    /// Test support, not for production: reset into `generation` (next to a wrap point).
    /// Returns the transition (not dispatched).
    #[pyo3(signature = (generation, now = None))]
    fn debug_reset_to_generation(
        &self,
        py: Python<'_>,
        generation: u32,
        now: Option<u64>,
    ) -> PyResult<NativeTransition> {
        let now = self.now(py, now)?;
        Ok(NativeTransition::from(self.inner.debug_reset_to_generation(generation, now)))
    }

    /// Manual operations: `op` is trip, force_open, disable, metrics_only or reset. Returns the
    /// transition (not dispatched: the caller adds its note and dispatches).
    #[pyo3(signature = (op, now = None))]
    fn manual(
        &self,
        py: Python<'_>,
        op: &str,
        now: Option<u64>,
    ) -> PyResult<Option<NativeTransition>> {
        let now = self.now(py, now)?;
        let t = match op {
            "trip" => self.inner.trip(now),
            "force_open" => self.inner.force_open(now),
            "disable" => self.inner.disable(now),
            "metrics_only" => self.inner.metrics_only(now),
            "reset" => self.inner.reset(now),
            _ => return Err(PyValueError::new_err(format!("op: unknown operation {op:?}"))),
        };
        Ok(t.map(NativeTransition::from))
    }
}

// ---- Shared breakers (issue 16, branch `shm`): `ringbreaker.shared` builds a NativeBreaker
// with a template's settings over a shared region (`py/src/shared.rs`). -----------------------
impl NativeBreaker {
    /// The ring this breaker runs on.
    pub(crate) fn inner(&self) -> &crate::shared::Inner {
        &self.inner
    }

    /// This breaker's name, classifier, listener list and clock over `inner`. The default
    /// clock becomes the host-wide one, since a shared breaker's times must agree between
    /// processes.
    pub(crate) fn with_inner(&self, py: Python<'_>, inner: crate::shared::Inner) -> NativeBreaker {
        let copy = |ms: &[Matcher]| -> Vec<Matcher> {
            ms.iter()
                .map(|m| match m {
                    Matcher::Type(t) => Matcher::Type(t.clone_ref(py)),
                    Matcher::Predicate(f) => Matcher::Predicate(f.clone_ref(py)),
                })
                .collect()
        };
        NativeBreaker {
            inner,
            name: self.name.clone_ref(py),
            clock: match &self.clock {
                Clock::Default | Clock::Host => Clock::Host,
                Clock::Manual(m) => Clock::Manual(m.clone_ref(py)),
                Clock::Callable(f) => Clock::Callable(f.clone_ref(py)),
            },
            classifier: Classifier {
                failure_on: copy(&self.classifier.failure_on),
                ignore: copy(&self.classifier.ignore),
            },
            listeners: self.listeners.clone_ref(py),
        }
    }
}
