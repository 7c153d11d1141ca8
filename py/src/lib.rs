//! `ringbreaker._native`: the pyo3 layer over the core. Private; the public Python API is the
//! pure-Python `ringbreaker` package. Every class is frozen (immutable from Python, with
//! atomics inside), so the module is safe without the GIL (`gil_used = false`).
//!
//! At import the module loads `ringbreaker._types` (pure data classes, which import nothing
//! native) and keeps its state enum, value types and exception classes; it never calls back
//! into the rest of the package.

mod awaitable;
mod breaker;
mod clock;
mod config;
mod guarded;
mod shared;
mod types;

use pyo3::prelude::*;

/// Nanoseconds on the core's default monotonic clock.
#[pyfunction]
fn now_ns() -> u64 {
    clock::default_ns()
}

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    types::load(m.py())?;
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<config::PyConfig>()?;
    m.add_class::<breaker::NativeBreaker>()?;
    m.add_class::<breaker::Permit>()?;
    m.add_class::<guarded::Guarded>()?;
    m.add("Guarded", guarded::make_type(m.py())?)?;
    awaitable::register(m)?;
    m.add_function(wrap_pyfunction!(now_ns, m)?)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    shared::register(m)?;
    Ok(())
}
