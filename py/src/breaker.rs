//! `NativeBreaker`: a core breaker plus a clock, an outcome classifier, transition listeners,
//! per-call hooks and cumulative totals.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use ringbreaker::{CircuitBreaker, Outcome, RawPermit, Rejected, Transition};

use crate::clock::Clock;
use crate::config::{PyConfig, seconds_to_ns};
use crate::types;

/// Which exceptions count as failures, which are ignored, and which results are failures.
pub struct Classifier {
    failure_on: Vec<Matcher>,
    ignore: Vec<Matcher>,
    failure_when: Option<Py<PyAny>>,
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
                    "{param}: {} is not an exception type (expected exception types or predicates)",
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

/// Permission to make one call; record it exactly once (a second record raises
/// `PermitReusedError`, from any thread).
#[pyclass(frozen, freelist = 64, module = "ringbreaker._native")]
pub struct Permit {
    raw: RawPermit,
    /// `None` when the breaker issued it without reading the clock.
    started_ns: Option<u64>,
    used: AtomicBool,
}

impl Permit {
    fn new(p: &ringbreaker::Permit, started_ns: Option<u64>) -> Self {
        Permit { raw: p.to_raw(), started_ns, used: AtomicBool::new(false) }
    }
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
    /// Clock reading when it was issued; `None` if the breaker did not need one.
    #[getter]
    fn started_ns(&self) -> Option<u64> {
        self.started_ns
    }
    /// Whether an outcome has been recorded for it.
    #[getter]
    fn recorded(&self) -> bool {
        self.used.load(Ordering::Acquire)
    }
    fn __repr__(&self) -> String {
        format!(
            "Permit(generation={}, kind={}, recorded={})",
            self.raw.generation,
            self.raw.kind,
            self.recorded()
        )
    }
}

/// Cumulative counters of one stripe, on their own cache lines so they share none with the
/// core or with another stripe: each thread adds to its own stripe, so counting adds no
/// contention between threads (free-threaded Python); `metrics()` sums the stripes.
#[repr(align(128))]
#[derive(Default)]
struct Totals {
    outcomes: [AtomicU64; 3],
    slow: AtomicU64,
    duration_sum_ns: [AtomicU64; 3],
    duration_count: [AtomicU64; 3],
}

/// Time spent in each committed state, advanced by the transitions this layer sees (each is
/// delivered to exactly one thread).
#[repr(align(128))]
struct StateTime {
    since_ns: AtomicU64,
    current: AtomicU8,
    in_state_ns: [AtomicU64; 6],
}

/// The native breaker behind `ringbreaker.CircuitBreaker`.
#[pyclass(frozen, module = "ringbreaker._native")]
pub struct NativeBreaker {
    inner: crate::shared::Inner,
    name: Py<PyString>,
    config: Py<PyConfig>,
    clock: Clock,
    classifier: Classifier,
    listeners: Py<PyList>,
    call_hooks: Py<PyList>,
    /// Every call is timed (slow-call detection, a timeout, or `time_calls`).
    timed: bool,
    /// An untimed success may be stamped with the coarse clock: the window's buckets are wide
    /// and many enough (`ringbreaker::coarse_clock_serves`).
    coarse: bool,
    /// A guarded call may take the lean path (`guarded_call`): not timed, a clock that calls
    /// no Python code, no `failure_when`.
    lean: bool,
    totals: Box<[Totals; STRIPES]>,
    state_time: StateTime,
}

const OUTCOME_NAMES: [&str; 3] = ["success", "failure", "ignored"];

const STRIPES: usize = 8;

/// This thread's stripe of the totals (threads are numbered round-robin on first use).
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

fn outcome_from(v: u8) -> PyResult<Outcome> {
    match v {
        0 => Ok(Outcome::Success),
        1 => Ok(Outcome::Failure),
        2 => Ok(Outcome::Ignored),
        _ => Err(PyValueError::new_err(format!("outcome must be 0, 1 or 2, got {v}"))),
    }
}

/// A result in CPython's calling convention: a new reference, or NULL with the error set.
#[inline]
fn into_raw(py: Python<'_>, r: PyResult<Py<PyAny>>) -> *mut ffi::PyObject {
    match r {
        Ok(v) => v.into_ptr(),
        Err(e) => {
            e.restore(py);
            core::ptr::null_mut()
        }
    }
}

/// The public `Transition` value for a core transition.
pub(crate) fn transition_value(
    py: Python<'_>,
    name: &Py<PyString>,
    t: &Transition,
    note: Option<&str>,
) -> PyResult<Py<PyAny>> {
    types::get(py).transition.call1(
        py,
        (
            name.clone_ref(py),
            types::state(py, t.from as u8),
            types::state(py, t.to as u8),
            t.generation,
            t.at,
            t.reason.as_str(),
            note,
        ),
    )
}

/// Whether `v`'s type implements `__await__` (coroutines, futures, tasks, ...). The common
/// results (`None`, `int`, `str`, `float`, `bool`, `bytes`, `tuple`, `list`, `dict`) are told
/// by one pointer comparison each, without a slot lookup.
#[inline]
fn is_awaitable(v: &Bound<'_, PyAny>) -> bool {
    if v.is_none() {
        return false;
    }
    let tp = v.get_type_ptr();
    // The addresses of the builtin type objects, compared, never dereferenced.
    let common = [
        &raw mut ffi::PyLong_Type,
        &raw mut ffi::PyUnicode_Type,
        &raw mut ffi::PyFloat_Type,
        &raw mut ffi::PyBool_Type,
        &raw mut ffi::PyBytes_Type,
        &raw mut ffi::PyTuple_Type,
        &raw mut ffi::PyList_Type,
        &raw mut ffi::PyDict_Type,
    ];
    if common.contains(&tp) {
        return false;
    }
    // SAFETY: `tp` is a live type object; PyType_GetSlot accepts static types from 3.10.
    unsafe { !ffi::PyType_GetSlot(tp, ffi::Py_am_await).is_null() }
}

impl NativeBreaker {
    /// Whether a call hook is subscribed: the list's size, read inline (a relaxed load, as
    /// CPython's own `PyList_GET_SIZE` is in free-threaded builds) instead of `PyList_Size`.
    #[inline]
    fn has_call_hooks(&self, py: Python<'_>) -> bool {
        let list = self.call_hooks.bind(py).as_ptr().cast::<ffi::PyVarObject>();
        // SAFETY: `list` is a live list (a PyVarObject); `ob_size` is an aligned isize that
        // CPython writes only through the list's own operations.
        let size = unsafe {
            core::sync::atomic::AtomicIsize::from_ptr(&raw mut (*list).ob_size)
                .load(Ordering::Relaxed)
        };
        size != 0
    }

    /// Account for a committed transition and deliver it to the listeners, if any. Returns the
    /// `Transition` value when one was built (always when `build` is set).
    #[inline]
    fn on_transition(
        &self,
        py: Python<'_>,
        t: Option<Transition>,
        note: Option<&str>,
        build: bool,
    ) -> Option<Py<PyAny>> {
        self.deliver_transition(py, t?, note, build)
    }

    #[cold]
    #[inline(never)]
    fn deliver_transition(
        &self,
        py: Python<'_>,
        t: Transition,
        note: Option<&str>,
        build: bool,
    ) -> Option<Py<PyAny>> {
        let st = &self.state_time;
        let prev = st.since_ns.swap(t.at, Ordering::AcqRel);
        st.in_state_ns[usize::from(t.from as u8).min(5)]
            .fetch_add(t.at.saturating_sub(prev), Ordering::Relaxed);
        st.current.store(t.to as u8, Ordering::Release);
        let listeners = self.listeners.bind(py);
        if listeners.is_empty() && !build {
            return None;
        }
        let value = match transition_value(py, &self.name, &t, note) {
            Ok(v) => v,
            Err(e) => {
                e.write_unraisable(py, None);
                return None;
            }
        };
        for listener in listeners.to_tuple().iter() {
            if let Err(e) = listener.call1((value.clone_ref(py),)) {
                self.log_error(
                    py,
                    "ringbreaker listener %r raised on %s",
                    &listener,
                    value.bind(py),
                    e,
                );
            }
        }
        Some(value)
    }

    /// Log a listener's or hook's error on the `ringbreaker` logger; never raises.
    fn log_error(
        &self,
        py: Python<'_>,
        msg: &str,
        who: &Bound<'_, PyAny>,
        what: &Bound<'_, PyAny>,
        e: PyErr,
    ) {
        let logger = types::get(py).logger.bind(py);
        let kwargs = PyDict::new(py);
        let logged = kwargs
            .set_item("exc_info", e.value(py))
            .and_then(|()| logger.call_method("error", (msg, who, what), Some(&kwargs)));
        if let Err(e) = logged {
            e.write_unraisable(py, None);
        }
    }

    /// Deliver a per-call event to the hooks (callers check `has_call_hooks` first).
    #[cold]
    #[inline(never)]
    fn emit(
        &self,
        py: Python<'_>,
        kind: &str,
        duration_ns: Option<u64>,
        exc: Option<&Bound<'_, PyAny>>,
    ) {
        let hooks = self.call_hooks.bind(py).to_tuple();
        let event = match types::get(py)
            .call_event
            .call1(py, (self.name.clone_ref(py), kind, duration_ns.map(|ns| ns as f64 / 1e9), exc))
        {
            Ok(v) => v,
            Err(e) => {
                e.write_unraisable(py, None);
                return;
            }
        };
        for hook in hooks.iter() {
            if let Err(e) = hook.call1((event.clone_ref(py),)) {
                self.log_error(
                    py,
                    "ringbreaker call hook %r raised on %s",
                    &hook,
                    event.bind(py),
                    e,
                );
            }
        }
    }

    fn open_error(&self, py: Python<'_>, r: &Rejected) -> PyErr {
        let retry = r.retry_after_ns.map(|ns| ns as f64 / 1e9);
        PyErr::from_type(
            types::get(py).circuit_open.bind(py).clone(),
            (self.name.clone_ref(py), types::state(py, r.state as u8), retry),
        )
    }

    /// A permit (and its start time, when the call is timed or the clock had to be read), or
    /// the rejection as `CircuitOpenError`. Delivers any transition and the hooks' event.
    pub(crate) fn acquire_inner(
        &self,
        py: Python<'_>,
    ) -> PyResult<(ringbreaker::Permit, Option<u64>)> {
        if !self.timed
            && self.clock.infallible()
            && let Some(p) = self.inner.try_acquire_without_time()
        {
            if self.has_call_hooks(py) {
                self.emit(py, "before_call", None, None);
            }
            return Ok((p, None));
        }
        let start = self.clock.read(py)?;
        match self.inner.try_acquire(start) {
            Ok(p) => {
                self.on_transition(py, p.transition(), None, false);
                if self.has_call_hooks(py) {
                    self.emit(py, "before_call", None, None);
                }
                Ok((p, Some(start)))
            }
            Err(r) => {
                self.on_transition(py, r.transition, None, false);
                let err = self.open_error(py, &r);
                if self.has_call_hooks(py) {
                    self.emit(py, "not_permitted", None, Some(err.value(py).as_any()));
                }
                Err(err)
            }
        }
    }

    /// Record `outcome` now (or at `now`) for a permit issued at `start`, with `duration`
    /// overriding the measured one; count it; deliver the transition and the hooks' event.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        py: Python<'_>,
        p: ringbreaker::Permit,
        start: Option<u64>,
        outcome: Outcome,
        exc: Option<&Bound<'_, PyAny>>,
        duration: Option<u64>,
        now: Option<u64>,
    ) -> PyResult<()> {
        let now = match now {
            Some(n) => n,
            // An untimed Closed-state success (its permit was issued without reading the
            // clock): only its bucket depends on the time, so the coarse clock serves.
            None if outcome == Outcome::Success && start.is_none() && !self.timed => {
                self.read_untimed(py)?
            }
            None => self.clock.read(py)?,
        };
        let duration = duration
            .or_else(|| if self.timed { start.map(|s| now.saturating_sub(s)) } else { None });
        // try_record, so a half-open trial permit the core has seen before (only reachable
        // through a 2^32-generation wrap, since a Permit object refuses a second use) is
        // refused as the core says, not swallowed.
        let t = match self.inner.try_record(p, outcome, duration, now) {
            Ok(t) => t,
            Err(e) => return Err(self.refused(py, e)),
        };
        let i = outcome as usize;
        let totals = &self.totals[stripe()];
        totals.outcomes[i].fetch_add(1, Ordering::Relaxed);
        if let Some(d) = duration {
            totals.duration_sum_ns[i].fetch_add(d, Ordering::Relaxed);
            totals.duration_count[i].fetch_add(1, Ordering::Relaxed);
            if outcome != Outcome::Ignored
                && let Some(slow) = self.inner.config().slow_call_ns()
                && d >= slow
            {
                totals.slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.on_transition(py, t, None, false);
        if self.has_call_hooks(py) {
            self.emit(py, OUTCOME_NAMES[i], duration, exc);
        }
        Ok(())
    }

    /// The error for a permit the core refused to record.
    #[cold]
    #[inline(never)]
    fn refused(&self, py: Python<'_>, e: ringbreaker::RecordError) -> PyErr {
        match e {
            ringbreaker::RecordError::AlreadyRecorded => PyErr::from_type(
                types::get(py).permit_reused.bind(py).clone(),
                "permit was already recorded (the core refused it); a permit records one outcome",
            ),
            ringbreaker::RecordError::ForeignPermit => PyErr::from_type(
                types::get(py).foreign_permit.bind(py).clone(),
                "permit was issued by another breaker",
            ),
        }
    }

    /// How an exception a guarded call raised is recorded, and the classifier's own error (a
    /// predicate that raised), which is recorded as a failure and then raised.
    fn classify_raised(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> (Outcome, Option<PyErr>) {
        match self.classifier.outcome(py, exc) {
            Ok(o) => (o, None),
            Err(e) => (Outcome::Failure, Some(e)),
        }
    }

    /// How a returned value is recorded: a failure when `failure_when(result)` is true.
    fn classify_result(
        &self,
        py: Python<'_>,
        result: &Bound<'_, PyAny>,
    ) -> (Outcome, Option<PyErr>) {
        let Some(pred) = &self.classifier.failure_when else { return (Outcome::Success, None) };
        match pred.bind(py).call1((result,)).and_then(|v| v.is_truthy()) {
            Ok(true) => (Outcome::Failure, None),
            Ok(false) => (Outcome::Success, None),
            Err(e) => (Outcome::Failure, Some(e)),
        }
    }

    /// The core permit behind a Python `Permit`, marking it used.
    fn take(&self, py: Python<'_>, permit: &Permit) -> PyResult<ringbreaker::Permit> {
        if permit.raw.breaker_id != self.inner.id() {
            return Err(PyErr::from_type(
                types::get(py).foreign_permit.bind(py).clone(),
                format!(
                    "permit was issued by another breaker, not {:?}",
                    self.name.bind(py).to_str()?
                ),
            ));
        }
        if permit.used.swap(true, Ordering::AcqRel) {
            return Err(PyErr::from_type(
                types::get(py).permit_reused.bind(py).clone(),
                format!(
                    "permit of breaker {:?} was already recorded; a permit records one outcome",
                    self.name.bind(py).to_str()?
                ),
            ));
        }
        ringbreaker::Permit::from_raw(permit.raw)
            .ok_or_else(|| PyValueError::new_err("permit: invalid"))
    }

    fn now(&self, py: Python<'_>, now: Option<u64>) -> PyResult<u64> {
        match now {
            Some(n) => Ok(n),
            None => self.clock.read(py),
        }
    }

    /// One guarded call: acquire, run, classify, record — one crossing into native code, no
    /// lock held across `func`. A call that returns an awaitable is refused: its outcome is not
    /// known yet (use `call_async` or an `async def`).
    pub fn guarded_call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let out = self.guarded_call_raw(py, func, args, kwargs);
        // SAFETY: `guarded_call_raw` returns a new reference, or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, out) }.map(Bound::unbind)
    }

    /// `guarded_call` in CPython's calling convention: a new reference, or NULL with the
    /// exception set (for `tp_call`, which hands it on as is).
    ///
    /// The lean path, taken when the breaker is `lean` and no hook is subscribed: a
    /// Closed-state permit taken without reading the clock, the call, and a success stamped
    /// with the coarse clock (`record_untimed_success`); outside Closed one clock read and the
    /// core's `try_acquire`, and a rejection raised as `CircuitOpenError(name, state,
    /// retry_after)` straight from its arguments (`set_open_error`). Each step is the general
    /// path's for that case, minus its generality; nothing here calls back into Python but
    /// `func` and, on a transition, the listeners.
    pub fn guarded_call_raw(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> *mut ffi::PyObject {
        if !self.lean || self.has_call_hooks(py) {
            let r = self.acquire_inner(py).and_then(|(permit, start)| {
                let result = func.call(args, kwargs);
                self.after_call(py, func, permit, start, result)
            });
            return into_raw(py, r);
        }
        if let Some(permit) = self.inner.try_acquire_without_time() {
            let result = func.call(args, kwargs);
            if let Ok(v) = &result
                && !is_awaitable(v)
            {
                return into_raw(
                    py,
                    self.record_untimed_success(py, permit)
                        .and_then(|()| result.map(Bound::unbind)),
                );
            }
            return into_raw(py, self.after_call(py, func, permit, None, result));
        }
        // Not Closed: `acquire_inner`'s timed half.
        let now = match self.clock.read(py) {
            Ok(now) => now,
            Err(e) => return into_raw(py, Err(e)),
        };
        match self.inner.try_acquire(now) {
            Ok(permit) => {
                self.on_transition(py, permit.transition(), None, false);
                if self.has_call_hooks(py) {
                    self.emit(py, "before_call", None, None);
                }
                let result = func.call(args, kwargs);
                into_raw(py, self.after_call(py, func, permit, Some(now), result))
            }
            Err(r) => {
                self.on_transition(py, r.transition, None, false);
                if self.has_call_hooks(py) {
                    let err = self.open_error(py, &r);
                    self.emit(py, "not_permitted", None, Some(err.value(py).as_any()));
                    return into_raw(py, Err(err));
                }
                self.set_open_error(py, &r);
                core::ptr::null_mut()
            }
        }
    }

    /// Raise `CircuitOpenError(name, state, retry_after)` for a rejection, as `open_error`
    /// builds it, but set from its arguments tuple: the instance is made where it is caught
    /// (the interpreter normalises it there), with no Rust-side error state in between.
    #[inline(never)]
    fn set_open_error(&self, py: Python<'_>, r: &Rejected) {
        let retry = r.retry_after_ns.map(|ns| ns as f64 / 1e9);
        let args = (self.name.bind(py), types::state_ref(py, r.state as u8), retry);
        match args.into_pyobject(py) {
            // SAFETY: a live exception class and a live tuple; PyErr_SetObject takes its own
            // references.
            Ok(t) => unsafe {
                ffi::PyErr_SetObject(types::get(py).circuit_open.as_ptr(), t.as_ptr());
            },
            Err(e) => e.restore(py),
        }
    }

    /// The time to stamp an untimed success with: the coarse clock where it serves.
    #[inline]
    fn read_untimed(&self, py: Python<'_>) -> PyResult<u64> {
        if self.coarse { self.clock.read_untimed(py) } else { self.clock.read(py) }
    }

    /// Record a success for a permit issued without reading the clock (Closed or
    /// MetricsOnly, or Disabled's pass-through), stamped with the coarse clock: `finish`'s
    /// work for that case.
    #[inline]
    fn record_untimed_success(&self, py: Python<'_>, p: ringbreaker::Permit) -> PyResult<()> {
        let now = self.read_untimed(py)?;
        match self.inner.try_record(p, Outcome::Success, None, now) {
            Ok(t) => {
                self.totals[stripe()].outcomes[0].fetch_add(1, Ordering::Relaxed);
                self.on_transition(py, t, None, false);
                if self.has_call_hooks(py) {
                    self.emit(py, OUTCOME_NAMES[0], None, None);
                }
                Ok(())
            }
            Err(e) => Err(self.refused(py, e)),
        }
    }

    /// Record a permit issued at `start` whose call returned `v` (a failure when
    /// `failure_when(v)`; the predicate's own error is returned after the failure is
    /// recorded). An untimed success takes `record_untimed_success`.
    #[inline]
    pub(crate) fn record_returned(
        &self,
        py: Python<'_>,
        permit: ringbreaker::Permit,
        start: Option<u64>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if self.lean && start.is_none() {
            return self.record_untimed_success(py, permit);
        }
        let (outcome, err) = self.classify_result(py, v);
        self.finish(py, permit, start, outcome, None, None, None)?;
        err.map_or(Ok(()), Err)
    }

    /// Record a permit issued at `start` whose call raised `e`, classified by `failure_on` /
    /// `ignore`; returns the error to raise: `e`, or the classifier's own error (a predicate
    /// that raised, recorded as a failure) with `e` as its `__context__`.
    pub(crate) fn record_raised(
        &self,
        py: Python<'_>,
        permit: ringbreaker::Permit,
        start: Option<u64>,
        e: PyErr,
    ) -> PyErr {
        let exc = e.value(py).as_any().clone();
        let (outcome, classify_err) = self.classify_raised(py, &exc);
        if let Err(finish_err) = self.finish(py, permit, start, outcome, Some(&exc), None, None) {
            return finish_err;
        }
        match classify_err {
            Some(ce) => {
                // SAFETY: both are live exception instances; SetContext steals the reference
                // it is given.
                unsafe { ffi::PyException_SetContext(ce.value(py).as_ptr(), exc.into_ptr()) };
                ce
            }
            None => e,
        }
    }

    /// What a guarded call does once `func` has returned or raised, for a permit issued at
    /// `start`.
    fn after_call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        permit: ringbreaker::Permit,
        start: Option<u64>,
        result: PyResult<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match result {
            Ok(v) => {
                if is_awaitable(&v) {
                    self.finish(py, permit, start, Outcome::Ignored, None, None, None)?;
                    if v.hasattr("close")? {
                        let _ = v.call_method0("close");
                    }
                    return Err(PyTypeError::new_err(format!(
                        "{} returned an awaitable ({}); a synchronous guard cannot see its outcome: \
                         use `await breaker.call_async(fn, ...)` or decorate an `async def` \
                         (the call was recorded as not a call)",
                        func.repr().map(|r| r.to_string()).unwrap_or_default(),
                        v.get_type().name()?
                    )));
                }
                let (outcome, err) = self.classify_result(py, &v);
                self.finish(py, permit, start, outcome, None, None, None)?;
                match err {
                    Some(e) => Err(e),
                    None => Ok(v.unbind()),
                }
            }
            Err(e) => {
                let exc = e.value(py).as_any().clone();
                let (outcome, classify_err) = self.classify_raised(py, &exc);
                self.finish(py, permit, start, outcome, Some(&exc), None, None)?;
                Err(classify_err.unwrap_or(e))
            }
        }
    }
}

#[pymethods]
impl NativeBreaker {
    #[new]
    #[pyo3(signature = (name, config, *, failure_on, ignore, failure_when, clock, listeners, call_hooks, time_calls))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Bound<'_, PyString>,
        config: Bound<'_, PyConfig>,
        failure_on: Bound<'_, PyTuple>,
        ignore: Bound<'_, PyTuple>,
        failure_when: Option<Bound<'_, PyAny>>,
        clock: Option<Bound<'_, PyAny>>,
        listeners: Bound<'_, PyList>,
        call_hooks: Bound<'_, PyList>,
        time_calls: bool,
    ) -> PyResult<Self> {
        let failure_when = match failure_when {
            Some(f) if f.is_none() => None,
            Some(f) if f.is_callable() => Some(f.unbind()),
            Some(f) => {
                return Err(PyTypeError::new_err(format!(
                    "failure_when must be a callable taking the result, or None, got {}",
                    f.get_type().name()?
                )));
            }
            None => None,
        };
        let cfg = config.get().cfg;
        let clock = Clock::from_py(clock)?;
        let created = clock.read(py)?;
        let timed = time_calls || cfg.slow_call_ns().is_some();
        Ok(NativeBreaker {
            inner: CircuitBreaker::new(cfg).into(),
            name: name.unbind(),
            timed,
            coarse: ringbreaker::coarse_clock_serves(&cfg),
            lean: !timed && clock.infallible() && failure_when.is_none(),
            config: config.unbind(),
            clock,
            classifier: Classifier {
                failure_on: Classifier::from_py("failure_on", &failure_on)?,
                ignore: Classifier::from_py("ignore", &ignore)?,
                failure_when,
            },
            listeners: listeners.unbind(),
            call_hooks: call_hooks.unbind(),
            totals: Box::default(),
            state_time: StateTime {
                since_ns: AtomicU64::new(created),
                current: AtomicU8::new(0),
                in_state_ns: Default::default(),
            },
        })
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The validated configuration.
    #[getter]
    fn config(&self, py: Python<'_>) -> Py<PyConfig> {
        self.config.clone_ref(py)
    }

    /// Whether every call is timed.
    #[getter]
    fn timed(&self) -> bool {
        self.timed
    }

    /// A clock reading, in nanoseconds.
    fn now_ns(&self, py: Python<'_>) -> PyResult<u64> {
        self.clock.read(py)
    }

    /// A permit, or `CircuitOpenError`.
    #[pyo3(signature = (now = None))]
    fn acquire(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Permit> {
        if now.is_none() {
            let (p, start) = self.acquire_inner(py)?;
            return Ok(Permit::new(&p, start));
        }
        let now = self.now(py, now)?;
        match self.inner.try_acquire(now) {
            Ok(p) => {
                self.on_transition(py, p.transition(), None, false);
                if self.has_call_hooks(py) {
                    self.emit(py, "before_call", None, None);
                }
                Ok(Permit::new(&p, Some(now)))
            }
            Err(r) => {
                self.on_transition(py, r.transition, None, false);
                let err = self.open_error(py, &r);
                if self.has_call_hooks(py) {
                    self.emit(py, "not_permitted", None, Some(err.value(py).as_any()));
                }
                Err(err)
            }
        }
    }

    /// Record a permit's outcome: 0 success, 1 failure, 2 ignored. `duration` (seconds or a
    /// timedelta) defaults to the time since the permit was issued, when it was timed.
    #[pyo3(signature = (permit, outcome, duration = None, now = None, exc = None))]
    fn record(
        &self,
        py: Python<'_>,
        permit: &Permit,
        outcome: u8,
        duration: Option<&Bound<'_, PyAny>>,
        now: Option<u64>,
        exc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = outcome_from(outcome)?;
        let duration = match duration {
            Some(d) if !d.is_none() => Some(seconds_to_ns("duration", d, ">= 0")?),
            _ => None,
        };
        let p = self.take(py, permit)?;
        let now = self.now(py, now)?;
        let duration = duration.or_else(|| permit.started_ns.map(|s| now.saturating_sub(s)));
        self.finish(py, p, permit.started_ns, outcome, exc, duration, Some(now))
    }

    /// Record a success for a permit (a `with` block or generator that finished).
    fn record_success(&self, py: Python<'_>, permit: &Permit) -> PyResult<()> {
        let p = self.take(py, permit)?;
        self.finish(py, p, permit.started_ns, Outcome::Success, None, None, None)
    }

    /// Record a permit whose call returned `result` (a failure when `failure_when(result)`).
    fn record_result(
        &self,
        py: Python<'_>,
        permit: &Permit,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let p = self.take(py, permit)?;
        let (outcome, err) = self.classify_result(py, result);
        self.finish(py, p, permit.started_ns, outcome, None, None, None)?;
        err.map_or(Ok(()), Err)
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
        self.finish(py, p, permit.started_ns, outcome, Some(exc), None, None)?;
        err.map_or(Ok(()), Err)
    }

    /// How `exc` would be recorded: 0 success, 1 failure, 2 ignored.
    fn classify(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<u8> {
        Ok(self.classifier.outcome(py, exc)? as u8)
    }

    /// Run `func(*args, **kwargs)` guarded.
    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        self.guarded_call(py, func, args, kwargs)
    }

    /// A `Metrics` snapshot, read at one instant.
    #[pyo3(signature = (now = None))]
    fn metrics(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Py<PyAny>> {
        let now = self.now(py, now)?;
        let m = self.inner.snapshot(now);
        let ty = types::get(py);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sum =
            |f: &dyn Fn(&Totals) -> &AtomicU64| self.totals.iter().map(|t| load(f(t))).sum::<u64>();
        let in_state = PyDict::new(py);
        let st = &self.state_time;
        let current = st.current.load(Ordering::Acquire);
        let since = st.since_ns.load(Ordering::Acquire);
        for (i, a) in st.in_state_ns.iter().enumerate() {
            let mut ns = load(a);
            if i == usize::from(current) {
                ns = ns.saturating_add(now.saturating_sub(since));
            }
            in_state.set_item(types::state(py, i as u8), ns as f64 / 1e9)?;
        }
        let sums = PyDict::new(py);
        let counts = PyDict::new(py);
        for (i, name) in OUTCOME_NAMES.iter().enumerate() {
            sums.set_item(*name, sum(&|t| &t.duration_sum_ns[i]) as f64 / 1e9)?;
            counts.set_item(*name, sum(&|t| &t.duration_count[i]))?;
        }
        let (s, f, ig) =
            (sum(&|t| &t.outcomes[0]), sum(&|t| &t.outcomes[1]), sum(&|t| &t.outcomes[2]));
        let totals = ty.totals.call1(
            py,
            (s + f + ig, s, f, ig, sum(&|t| &t.slow), m.rejected, m.stale, in_state, sums, counts),
        )?;
        // The core's snapshot as it is: the core makes `snapshot(now).state` agree with
        // `state(now)`.
        let fields: [Py<PyAny>; 13] = [
            types::state(py, m.state as u8),
            m.generation.into_pyobject(py)?.into_any().unbind(),
            m.calls.into_pyobject(py)?.into_any().unbind(),
            m.successes.into_pyobject(py)?.into_any().unbind(),
            m.failures.into_pyobject(py)?.into_any().unbind(),
            m.slow_calls.into_pyobject(py)?.into_any().unbind(),
            m.failure_rate.into_pyobject(py)?.into_any().unbind(),
            m.slow_call_rate.into_pyobject(py)?.into_any().unbind(),
            m.rejected.into_pyobject(py)?.into_any().unbind(),
            m.stale.into_pyobject(py)?.into_any().unbind(),
            m.time_until_half_open_ns
                .map(|ns| ns as f64 / 1e9)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            (m.open_ns as f64 / 1e9).into_pyobject(py)?.into_any().unbind(),
            totals,
        ];
        ty.metrics.call1(py, PyTuple::new(py, fields)?)
    }

    /// The `State` the next acquire would find.
    #[pyo3(signature = (now = None))]
    fn state(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Py<PyAny>> {
        Ok(types::state(py, self.inner.state(self.now(py, now)?) as u8))
    }

    /// Nanoseconds until a call could be admitted, as a rejection at `now` carries it (0 when
    /// a call would be permitted; `None` when forced open).
    #[pyo3(signature = (now = None))]
    fn retry_after(&self, py: Python<'_>, now: Option<u64>) -> PyResult<Option<u64>> {
        Ok(self.inner.retry_after(self.now(py, now)?))
    }

    /// Test support, not for production: reset into `generation` (next to a wrap point).
    /// Returns the `Transition` (not delivered to listeners).
    #[pyo3(signature = (generation, now = None))]
    fn debug_reset_to_generation(
        &self,
        py: Python<'_>,
        generation: u32,
        now: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let now = self.now(py, now)?;
        transition_value(
            py,
            &self.name,
            &self.inner.debug_reset_to_generation(generation, now),
            None,
        )
    }

    /// Manual operations: `op` is trip, force_open, disable, metrics_only or reset. Returns the
    /// `Transition` (delivered to the listeners with `note`), or `None` when nothing changed.
    #[pyo3(signature = (op, note = None, now = None))]
    fn manual(
        &self,
        py: Python<'_>,
        op: &str,
        note: Option<&str>,
        now: Option<u64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let now = self.now(py, now)?;
        let t = match op {
            "trip" => self.inner.trip(now),
            "force_open" => self.inner.force_open(now),
            "disable" => self.inner.disable(now),
            "metrics_only" => self.inner.metrics_only(now),
            "reset" => self.inner.reset(now),
            _ => return Err(PyValueError::new_err(format!("op: unknown operation {op:?}"))),
        };
        Ok(self.on_transition(py, t, note, true))
    }
}

// ---- Shared breakers: `ringbreaker.shared` builds a NativeBreaker with a template's settings
// over a shared region (`py/src/shared.rs`). ---------------------------------------------------
impl NativeBreaker {
    /// The ring this breaker runs on.
    pub(crate) fn inner(&self) -> &crate::shared::Inner {
        &self.inner
    }

    /// The breaker's name.
    pub(crate) fn name_ref(&self) -> &Py<PyString> {
        &self.name
    }

    /// This breaker's name, config, classifier, listeners, hooks and clock over `inner`, with
    /// fresh totals. The default clock becomes the host-wide one, since a shared breaker's
    /// times must agree between processes.
    pub(crate) fn with_inner(
        &self,
        py: Python<'_>,
        inner: crate::shared::Inner,
    ) -> PyResult<NativeBreaker> {
        let copy = |ms: &[Matcher]| -> Vec<Matcher> {
            ms.iter()
                .map(|m| match m {
                    Matcher::Type(t) => Matcher::Type(t.clone_ref(py)),
                    Matcher::Predicate(f) => Matcher::Predicate(f.clone_ref(py)),
                })
                .collect()
        };
        let clock = match &self.clock {
            Clock::Default | Clock::Host => Clock::Host,
            Clock::Manual(m) => Clock::Manual(m.clone_ref(py)),
            Clock::Callable(f) => Clock::Callable(f.clone_ref(py)),
        };
        let created = clock.read(py)?;
        let current = inner.state(created) as u8;
        let lean = !self.timed && clock.infallible() && self.classifier.failure_when.is_none();
        Ok(NativeBreaker {
            inner,
            name: self.name.clone_ref(py),
            config: self.config.clone_ref(py),
            clock,
            classifier: Classifier {
                failure_on: copy(&self.classifier.failure_on),
                ignore: copy(&self.classifier.ignore),
                failure_when: self.classifier.failure_when.as_ref().map(|f| f.clone_ref(py)),
            },
            listeners: self.listeners.clone_ref(py),
            call_hooks: self.call_hooks.clone_ref(py),
            timed: self.timed,
            coarse: self.coarse,
            lean,
            totals: Box::default(),
            state_time: StateTime {
                since_ns: AtomicU64::new(created),
                current: AtomicU8::new(current),
                in_state_ns: Default::default(),
            },
        })
    }
}
