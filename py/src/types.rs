//! The Python classes the native module builds and raises, loaded once at import from the pure
//! data module `ringbreaker._types`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

pub struct Types {
    /// `State` members by their number.
    pub states: [Py<PyAny>; 6],
    pub transition: Py<PyAny>,
    pub call_event: Py<PyAny>,
    pub metrics: Py<PyAny>,
    pub totals: Py<PyAny>,
    pub config_error: Py<PyType>,
    pub circuit_open: Py<PyType>,
    pub foreign_permit: Py<PyType>,
    pub permit_reused: Py<PyType>,
    pub shared_region: Py<PyType>,
    pub timedelta: Py<PyType>,
    pub logger: Py<PyAny>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

pub fn load(py: Python<'_>) -> PyResult<()> {
    TYPES.get_or_try_init(py, || {
        let m = py.import("ringbreaker._types")?;
        let state = m.getattr("State")?;
        let member = |i: u8| state.call1((i,)).map(Bound::unbind);
        let cls = |name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        let obj = |name: &str| m.getattr(name).map(Bound::unbind);
        Ok::<_, PyErr>(Types {
            states: [member(0)?, member(1)?, member(2)?, member(3)?, member(4)?, member(5)?],
            transition: obj("Transition")?,
            call_event: obj("CallEvent")?,
            metrics: obj("Metrics")?,
            totals: obj("Totals")?,
            config_error: cls("ConfigError")?,
            circuit_open: cls("CircuitOpenError")?,
            foreign_permit: cls("ForeignPermitError")?,
            permit_reused: cls("PermitReusedError")?,
            shared_region: cls("SharedRegionError")?,
            timedelta: py.import("datetime")?.getattr("timedelta")?.cast_into::<PyType>()?.unbind(),
            logger: py.import("logging")?.call_method1("getLogger", ("ringbreaker",))?.unbind(),
        })
    })?;
    Ok(())
}

/// The loaded classes (always present: `load` runs in the module's init).
pub fn get(py: Python<'_>) -> &Types {
    TYPES.get(py).expect("ringbreaker._native initialised")
}

/// The `State` member numbered `s`.
pub fn state(py: Python<'_>, s: u8) -> Py<PyAny> {
    get(py).states[usize::from(s).min(5)].clone_ref(py)
}

/// The `State` member numbered `s`, borrowed.
pub fn state_ref(py: Python<'_>, s: u8) -> &Bound<'_, PyAny> {
    get(py).states[usize::from(s).min(5)].bind(py)
}
