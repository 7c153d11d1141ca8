//! `Guarded`: the decorator's wrapper for sync functions, callable from Python with one
//! crossing into native code per guarded call.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::breaker::NativeBreaker;

/// A function guarded by a breaker. Behaves like the function (it is a descriptor, so it works
/// on methods too); `functools.update_wrapper` fills its `__dict__`.
#[pyclass(frozen, dict, module = "ringbreaker._native")]
pub struct Guarded {
    breaker: Py<NativeBreaker>,
    func: Py<PyAny>,
}

static METHOD_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pymethods]
impl Guarded {
    #[new]
    fn new(breaker: Py<NativeBreaker>, func: Py<PyAny>) -> Self {
        Guarded { breaker, func }
    }

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
        let py = slf.py();
        match obj {
            Some(o) if !o.is_none() => {
                let method_type = METHOD_TYPE.get_or_try_init(py, || {
                    py.import("types")?.getattr("MethodType").map(Bound::unbind)
                })?;
                Ok(method_type.bind(py).call1((slf, o))?.unbind())
            }
            _ => Ok(slf.into_any().unbind()),
        }
    }
}
