//! `Guarded`: the decorator's wrapper for sync functions, callable from Python with one
//! crossing into native code per guarded call.
//!
//! The class Python sees is a heap subtype of the pyo3 class `GuardedBase` whose only addition
//! is its own `tp_call` slot: the call's tuple and dict go straight to
//! `NativeBreaker::guarded_call`, without pyo3's `*args, **kwargs` extraction (which re-slices
//! the tuple and walks the parameter list on every call). Everything else — construction,
//! `__dict__`, `__get__`, `__reduce__`, garbage collection — is the base class's.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::breaker::NativeBreaker;

/// A function guarded by a breaker. Behaves like the function (it is a descriptor, so it works
/// on methods too); `functools.update_wrapper` fills its `__dict__`.
#[pyclass(frozen, dict, subclass, name = "GuardedBase", module = "ringbreaker._native")]
pub struct Guarded {
    breaker: Py<NativeBreaker>,
    func: Py<PyAny>,
}

static METHOD_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `__get__` of a guarded function (sync or async): bound to `obj` as a method, as a plain
/// function would be, or itself when looked up on the class.
pub fn bind_like_a_function(
    slf: Bound<'_, PyAny>,
    obj: Option<Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    match obj {
        Some(o) if !o.is_none() => {
            let method_type = METHOD_TYPE.get_or_try_init(py, || {
                py.import("types")?.getattr("MethodType").map(Bound::unbind)
            })?;
            Ok(method_type.bind(py).call1((slf, o))?.unbind())
        }
        _ => Ok(slf.unbind()),
    }
}

#[pymethods]
impl Guarded {
    #[new]
    fn new(breaker: Py<NativeBreaker>, func: Py<PyAny>) -> Self {
        Guarded { breaker, func }
    }

    /// The guarded call through pyo3's argument handling: what `tp_call` of the `Guarded`
    /// subtype does faster (reached only by calling `GuardedBase` instances directly).
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        self.breaker.get().guarded_call(py, self.func.bind(py), args, kwargs)
    }

    /// Pickle by reference: the module-level name the function is defined under (as a plain
    /// function pickles), so a decorated function crosses to worker processes.
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(slf.getattr("__qualname__")?.unbind())
    }

    /// Bind to an instance like a plain function would.
    fn __get__(
        slf: Bound<'_, Self>,
        obj: Option<Bound<'_, PyAny>>,
        _owner: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        bind_like_a_function(slf.into_any(), obj)
    }
}

/// `tp_call` of `Guarded`, run inside pyo3's trampoline (attachment count, panics turned into
/// `PanicException`).
///
/// # Safety
/// CPython calls it with an attached thread, `slf` an instance of `Guarded` (so of
/// `GuardedBase`), `args` a tuple and `kwargs` NULL or a dict.
unsafe fn call_slot(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: as the function's contract says; the borrows live for this call.
    let (g, args, kwargs) = unsafe {
        (
            Borrowed::from_ptr(py, slf).cast_unchecked::<Guarded>(),
            Borrowed::from_ptr(py, args).cast_unchecked::<PyTuple>(),
            Borrowed::from_ptr_or_opt(py, kwargs).map(|k| k.cast_unchecked::<PyDict>()),
        )
    };
    let g = g.get();
    // NULL with the exception set is passed on as is.
    Ok(g.breaker.get().guarded_call_raw(py, g.func.bind(py), &args, kwargs.as_deref()))
}

/// The `Guarded` class: `GuardedBase` with `call_slot` as its `tp_call`.
pub fn make_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    heap_subtype(
        py,
        py.get_type::<Guarded>(),
        c"ringbreaker._native.Guarded",
        ffi::Py_tp_call,
        pyo3::get_trampoline_function!(ternaryfunc, call_slot) as *mut _,
    )
}

/// A heap subtype of `base` named `name`, with `pfunc` in type slot `slot` (how `Guarded` and
/// `GuardedAsync` get a `tp_call` of their own).
pub fn heap_subtype<'py>(
    py: Python<'py>,
    base: Bound<'py, PyType>,
    name: &'static core::ffi::CStr,
    slot: core::ffi::c_int,
    pfunc: *mut core::ffi::c_void,
) -> PyResult<Bound<'py, PyType>> {
    let mut slots = [
        ffi::PyType_Slot { slot, pfunc },
        ffi::PyType_Slot { slot: 0, pfunc: core::ptr::null_mut() },
    ];
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: 0,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    };
    let bases = PyTuple::new(py, [base])?;
    // SAFETY: `spec` and `slots` outlive the call (CPython copies what it keeps); `bases` is a
    // tuple of one heap type that allows subclassing.
    let ty = unsafe { ffi::PyType_FromSpecWithBases(&mut spec, bases.as_ptr()) };
    // SAFETY: a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ty) }?.cast_into::<PyType>().map_err(Into::into)
}
