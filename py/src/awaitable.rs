//! `GuardedAsync` and `GuardedCall`: the decorator's wrapper for coroutine functions, and the
//! awaitable one call of it returns — a native coroutine-like object, so a guarded `await`
//! runs no Python frame of its own.
//!
//! `GuardedCall` does what this coroutine does, step for step:
//!
//! ```python
//! async def guarded(*args, **kwargs):
//!     permit = breaker.acquire()            # at the first step, not at the call
//!     try:
//!         result = await func(*args, **kwargs)
//!     except BaseException as exc:
//!         breaker.record_exception(permit, exc)
//!         raise
//!     breaker.record_result(permit, result)
//!     return result
//! ```
//!
//! It is driven by `__next__` (what `await` uses), `send`, `throw` and `close`, like a
//! coroutine: the permit is taken at the first step, each value the inner awaitable yields
//! is passed out, a value sent or an exception thrown in is passed to it, and its outcome is
//! recorded once — returned, raised, cancelled (thrown in), or closed (`GeneratorExit`,
//! which is not a call). A `GuardedCall` never started takes no permit and calls nothing.
//!
//! `GuardedAsync` is a heap subtype of a pyo3 class with its own `tp_call`, as `Guarded` is
//! (see `guarded.rs`).

use pyo3::PyTraverseError;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::breaker::NativeBreaker;

/// A coroutine function guarded by a breaker: calling it returns a `GuardedCall`.
#[pyclass(frozen, dict, subclass, name = "GuardedAsyncBase", module = "ringbreaker._native")]
pub struct GuardedAsync {
    breaker: Py<NativeBreaker>,
    func: Py<PyAny>,
    /// `func` may return a plain value (`call_async` accepts sync callables); else awaiting
    /// a non-awaitable raises `TypeError`, as `await` does.
    sync_ok: bool,
}

/// `types.CoroutineType`.
static CORO_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl GuardedAsync {
    fn make_call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        new_call(
            py,
            self.breaker.clone_ref(py),
            self.func.clone_ref(py),
            args,
            kwargs,
            self.sync_ok,
        )
    }
}

/// A new `GuardedCall` of `func(*args, **kwargs)` guarded by `breaker`.
pub fn new_call<'py>(
    py: Python<'py>,
    breaker: Py<NativeBreaker>,
    func: Py<PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    sync_ok: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let call = GuardedCall {
        breaker: Some(breaker),
        sync_ok,
        // The call's own tuple and dict: CPython passes new ones to each call.
        state: State::Created {
            func,
            args: args.clone().unbind(),
            kwargs: kwargs.map(|k| k.clone().unbind()),
        },
    };
    Ok(Bound::new(py, call)?.into_any())
}

#[pymethods]
impl GuardedAsync {
    #[new]
    #[pyo3(signature = (breaker, func, *, sync_ok = false))]
    fn new(breaker: Py<NativeBreaker>, func: Py<PyAny>, sync_ok: bool) -> Self {
        GuardedAsync { breaker, func, sync_ok }
    }

    /// A `GuardedCall` through pyo3's argument handling (what `tp_call` of the
    /// `GuardedAsync` subtype does faster).
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.make_call(py, args, kwargs)
    }

    /// Pickle by reference, as a plain function pickles.
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(slf.getattr("__qualname__")?.unbind())
    }

    /// Bind to an instance like a plain function would.
    fn __get__(
        slf: Bound<'_, Self>,
        obj: Option<Bound<'_, PyAny>>,
        _owner: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        crate::guarded::bind_like_a_function(slf.into_any(), obj)
    }
}

enum State {
    /// Not started: no permit yet, `func` not called.
    Created {
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
    },
    /// Awaiting `it` (the inner awaitable's iterator) under `permit`.
    Running {
        permit: ringbreaker::Permit,
        start: Option<u64>,
        it: Py<PyAny>,
    },
    Done,
}

/// One guarded call of a coroutine function: awaitable once, like the coroutine it stands for.
#[pyclass(freelist = 64, module = "ringbreaker._native")]
pub struct GuardedCall {
    breaker: Option<Py<NativeBreaker>>,
    sync_ok: bool,
    state: State,
}

/// What one step of the call gave.
enum Step {
    Yield(Py<PyAny>),
    Return(Py<PyAny>),
}

/// The iterator `await aw` would drive, or `None` for a plain value when `sync_ok`.
fn awaitable_iter<'py>(
    aw: &Bound<'py, PyAny>,
    sync_ok: bool,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = aw.py();
    let tp = aw.get_type_ptr();
    // A coroutine is its own iterator (what `await` drives); its `__await__` would wrap it.
    if CORO_TYPE.get(py).is_some_and(|c| c.as_ptr().cast() == tp) {
        return Ok(Some(aw.clone()));
    }
    // SAFETY: `tp` is a live type object; PyType_GetSlot accepts static types from 3.10.
    let slot = unsafe { ffi::PyType_GetSlot(tp, ffi::Py_am_await) };
    if slot.is_null() {
        if sync_ok {
            return Ok(None);
        }
        return Err(PyTypeError::new_err(format!(
            "object {} can't be used in 'await' expression",
            aw.get_type().name()?
        )));
    }
    // SAFETY: `slot` is the type's `am_await` (a unaryfunc), called with an instance.
    let it = unsafe {
        let f: ffi::unaryfunc =
            core::mem::transmute::<*mut core::ffi::c_void, ffi::unaryfunc>(slot);
        Bound::from_owned_ptr_or_err(py, f(aw.as_ptr()))?
    };
    // SAFETY: `it` is a live object.
    if unsafe { ffi::PyIter_Check(it.as_ptr()) } == 0 {
        return Err(PyTypeError::new_err(format!(
            "__await__() returned non-iterator of type '{}'",
            it.get_type().name()?
        )));
    }
    Ok(Some(it))
}

/// The breaker of a `GuardedCall` (a field, so that the state can be borrowed beside it).
fn breaker_of(b: &Option<Py<NativeBreaker>>) -> PyResult<&NativeBreaker> {
    b.as_ref()
        .map(|b| b.get())
        .ok_or_else(|| PyRuntimeError::new_err("GuardedCall: not made by a guarded function"))
}

impl GuardedCall {
    /// One step: the first starts the call (permit, `func`, its awaitable); each sends
    /// `value` into the inner iterator. An outcome is recorded when the inner awaitable
    /// returns or raises.
    fn resume(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Step> {
        let b = breaker_of(&self.breaker)?;
        let (permit, start, it) = match core::mem::replace(&mut self.state, State::Done) {
            State::Created { func, args, kwargs } => {
                if !value.is_none() {
                    self.state = State::Created { func, args, kwargs };
                    return Err(PyTypeError::new_err(
                        "can't send non-None value to a just-started coroutine",
                    ));
                }
                let (permit, start) = b.acquire_inner(py)?;
                let aw =
                    match func.bind(py).call(args.bind(py), kwargs.as_ref().map(|k| k.bind(py))) {
                        Ok(aw) => aw,
                        Err(e) => return Err(b.record_raised(py, permit, start, e)),
                    };
                match awaitable_iter(&aw, self.sync_ok) {
                    Ok(Some(it)) => (permit, start, it.unbind()),
                    Ok(None) => {
                        b.record_returned(py, permit, start, &aw)?;
                        return Ok(Step::Return(aw.unbind()));
                    }
                    Err(e) => return Err(b.record_raised(py, permit, start, e)),
                }
            }
            State::Running { permit, start, it } => (permit, start, it),
            State::Done => {
                return Err(PyRuntimeError::new_err("cannot reuse already awaited coroutine"));
            }
        };
        let mut out: *mut ffi::PyObject = core::ptr::null_mut();
        // SAFETY: `it` is an iterator, `value` a live object; `out` receives a new reference
        // unless an error is returned.
        let r = unsafe { ffi::PyIter_Send(it.as_ptr(), value.as_ptr(), &mut out) };
        match r {
            ffi::PySendResult::PYGEN_NEXT => {
                self.state = State::Running { permit, start, it };
                // SAFETY: a new reference.
                Ok(Step::Yield(unsafe { Bound::from_owned_ptr(py, out) }.unbind()))
            }
            ffi::PySendResult::PYGEN_RETURN => {
                // SAFETY: a new reference.
                let v = unsafe { Bound::from_owned_ptr(py, out) };
                b.record_returned(py, permit, start, &v)?;
                Ok(Step::Return(v.unbind()))
            }
            ffi::PySendResult::PYGEN_ERROR => {
                let e = PyErr::fetch(py);
                Err(b.record_raised(py, permit, start, e))
            }
        }
    }

    /// `throw` for a running call: the exception goes to the inner iterator's `throw` (or,
    /// without one, is raised at the await); its outcome is recorded as `resume`'s is.
    fn throw_in(
        &mut self,
        py: Python<'_>,
        exc: PyErr,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Step> {
        let b = breaker_of(&self.breaker)?;
        let State::Running { permit, start, it } = core::mem::replace(&mut self.state, State::Done)
        else {
            return Err(exc);
        };
        let it = it.into_bound(py);
        if exc.is_instance_of::<pyo3::exceptions::PyGeneratorExit>(py) {
            // As a coroutine does: close the inner iterator, then raise at the await.
            let closed = close_iter(&it);
            return Err(b.record_raised(py, permit, start, closed.err().unwrap_or(exc)));
        }
        let throw = match it.getattr(pyo3::intern!(py, "throw")) {
            Ok(t) => t,
            Err(_) => return Err(b.record_raised(py, permit, start, exc)),
        };
        match throw.call1(args) {
            Ok(y) => {
                self.state = State::Running { permit, start, it: it.unbind() };
                Ok(Step::Yield(y.unbind()))
            }
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                let v = e.value(py).getattr(pyo3::intern!(py, "value"))?;
                b.record_returned(py, permit, start, &v)?;
                Ok(Step::Return(v.unbind()))
            }
            Err(e) => Err(b.record_raised(py, permit, start, e)),
        }
    }
}

/// `it.close()`, if it has one.
fn close_iter(it: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = it.py();
    match it.getattr(pyo3::intern!(py, "close")) {
        Ok(close) => close.call0().map(drop),
        Err(_) => Ok(()),
    }
}

/// `StopIteration(v)` for a step's final value, or the yielded value.
fn send_result(py: Python<'_>, step: Step) -> PyResult<Py<PyAny>> {
    match step {
        Step::Yield(v) => Ok(v),
        Step::Return(v) => Err(PyStopIteration::new_err((v.clone_ref(py),))),
    }
}

#[pymethods]
impl GuardedCall {
    #[new]
    fn new() -> Self {
        GuardedCall { breaker: None, sync_ok: false, state: State::Done }
    }

    /// Itself (no borrow taken: it only hands the object back).
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// A step with `None` (what `await` does). The final value is raised as
    /// `StopIteration(value)` straight from the value, and `None` returned, so pyo3 hands
    /// NULL back with that exception set: the interpreter reads the value back without
    /// making the exception object, where it can.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.resume(py, &py.None().into_bound(py))? {
            Step::Yield(v) => Ok(Some(v)),
            Step::Return(v) => {
                let v = v.into_bound(py);
                // SAFETY: live objects; PyErr_SetObject takes its own references. A tuple or
                // an exception instance would be read as the exception's arguments or as the
                // exception itself, so those are wrapped in a StopIteration first.
                unsafe {
                    let plain = ffi::PyTuple_Check(v.as_ptr()) == 0
                        && ffi::PyExceptionInstance_Check(v.as_ptr()) == 0;
                    if plain {
                        ffi::PyErr_SetObject(ffi::PyExc_StopIteration, v.as_ptr());
                    } else {
                        PyStopIteration::new_err((v.unbind(),)).restore(py);
                    }
                }
                Ok(None)
            }
        }
    }

    /// Send `value` in (`None` to start), as `coroutine.send`.
    #[pyo3(signature = (value, /))]
    fn send(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let step = self.resume(py, value)?;
        send_result(py, step)
    }

    /// Raise an exception at the await, as `coroutine.throw` (`throw(exc)` or the
    /// deprecated `throw(type, value, traceback)`).
    #[pyo3(signature = (typ, val = None, tb = None, /))]
    fn throw(
        &mut self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let args = match (val, tb) {
            (None, None) => PyTuple::new(py, [typ])?,
            (Some(v), None) => PyTuple::new(py, [typ, v])?,
            (v, Some(t)) => PyTuple::new(
                py,
                [typ.clone(), v.cloned().unwrap_or_else(|| py.None().into_bound(py)), t.clone()],
            )?,
        };
        let exc = exception_from(py, typ, val, tb);
        if !matches!(self.state, State::Running { .. }) {
            // Not started or finished: the exception is raised here and the call is over.
            self.state = State::Done;
            return Err(exc);
        }
        let step = self.throw_in(py, exc, &args)?;
        send_result(py, step)
    }

    /// Close, as `coroutine.close`: a running call's inner awaitable is closed and its
    /// permit recorded as `GeneratorExit` (not a call).
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        let State::Running { permit, start, it } = core::mem::replace(&mut self.state, State::Done)
        else {
            return Ok(());
        };
        let b = breaker_of(&self.breaker)?;
        let e = match close_iter(it.bind(py)) {
            Ok(()) => pyo3::exceptions::PyGeneratorExit::new_err(()),
            Err(e) => e,
        };
        let raised = b.record_raised(py, permit, start, e);
        if raised.is_instance_of::<pyo3::exceptions::PyGeneratorExit>(py) {
            Ok(())
        } else {
            Err(raised)
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(b) = &self.breaker {
            visit.call(b)?;
        }
        match &self.state {
            State::Created { func, args, kwargs } => {
                visit.call(func)?;
                visit.call(args)?;
                if let Some(k) = kwargs {
                    visit.call(k)?;
                }
            }
            State::Running { it, .. } => visit.call(it)?,
            State::Done => {}
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.breaker = None;
        self.state = State::Done;
    }
}

impl Drop for GuardedCall {
    /// A call dropped while running (never finished nor closed) records its permit as not a
    /// call, as a coroutine finalised mid-await records `GeneratorExit`.
    fn drop(&mut self) {
        if let State::Running { permit, start, .. } =
            core::mem::replace(&mut self.state, State::Done)
            && let Some(b) = self.breaker.take()
        {
            Python::attach(|py| {
                let e = pyo3::exceptions::PyGeneratorExit::new_err(());
                let _ = b.get().record_raised(py, permit, start, e);
            });
        }
    }
}

/// The exception `throw(typ, val, tb)` raises, normalised.
fn exception_from(
    py: Python<'_>,
    typ: &Bound<'_, PyAny>,
    val: Option<&Bound<'_, PyAny>>,
    tb: Option<&Bound<'_, PyAny>>,
) -> PyErr {
    // SAFETY: PyErr_Restore steals the three references (NULL allowed for value and
    // traceback); PyErr::fetch normalises what was set.
    unsafe {
        let v =
            val.filter(|v| !v.is_none()).map_or(core::ptr::null_mut(), |v| v.clone().into_ptr());
        let t = tb.filter(|t| !t.is_none()).map_or(core::ptr::null_mut(), |t| t.clone().into_ptr());
        if ffi::PyExceptionInstance_Check(typ.as_ptr()) != 0 {
            ffi::PyErr_Restore(typ.get_type().into_ptr(), typ.clone().into_ptr(), t);
            if !v.is_null() {
                ffi::Py_DecRef(v);
            }
        } else if ffi::PyExceptionClass_Check(typ.as_ptr()) != 0 {
            ffi::PyErr_Restore(typ.clone().into_ptr(), v, t);
        } else {
            for p in [v, t] {
                if !p.is_null() {
                    ffi::Py_DecRef(p);
                }
            }
            return PyTypeError::new_err(format!(
                "exceptions must be classes or instances deriving from BaseException, not {}",
                typ.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ));
        }
    }
    PyErr::fetch(py)
}

/// `tp_call` of `GuardedAsync`.
///
/// # Safety
/// CPython calls it with an attached thread, `slf` an instance of the `GuardedAsync`
/// subtype, `args` a tuple and `kwargs` NULL or a dict.
unsafe fn call_slot(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: as the function's contract says; the borrows live for this call.
    let (g, args, kwargs) = unsafe {
        (
            Borrowed::from_ptr(py, slf).cast_unchecked::<GuardedAsync>(),
            Borrowed::from_ptr(py, args).cast_unchecked::<PyTuple>(),
            Borrowed::from_ptr_or_opt(py, kwargs).map(|k| k.cast_unchecked::<PyDict>()),
        )
    };
    g.get().make_call(py, &args, kwargs.as_deref()).map(Bound::into_ptr)
}

/// Add `GuardedAsync` and `GuardedCall` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let _ = CORO_TYPE.set(py, py.import("types")?.getattr("CoroutineType")?.unbind());
    m.add_class::<GuardedCall>()?;
    m.add_class::<GuardedAsync>()?;
    let async_ty = crate::guarded::heap_subtype(
        py,
        py.get_type::<GuardedAsync>(),
        c"ringbreaker._native.GuardedAsync",
        ffi::Py_tp_call,
        pyo3::get_trampoline_function!(ternaryfunc, call_slot) as *mut _,
    )?;
    m.add("GuardedAsync", async_ty)?;
    Ok(())
}
