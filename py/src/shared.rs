//! Shared breakers for Python: a `NativeBreaker` whose ring lives in a region mapped by many
//! processes (`ringbreaker.shared`).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use ringbreaker::shared::{Opened, SharedBreaker, SharedError};
use ringbreaker::{Breaker, CircuitBreaker, Outcome, Permit, RecordError, Rejected, Transition};

use crate::breaker::{NativeBreaker, transition_value};
use crate::types;

/// The ring behind a `NativeBreaker`: its own heap block, or a shared region. Calls that can
/// make a transition go through the shared breaker's journaling methods; the rest through
/// `Deref`.
pub enum Inner {
    Private(CircuitBreaker),
    Shared(SharedBreaker),
}

impl From<CircuitBreaker> for Inner {
    fn from(b: CircuitBreaker) -> Self {
        Inner::Private(b)
    }
}

impl core::ops::Deref for Inner {
    type Target = Breaker;
    #[inline]
    fn deref(&self) -> &Breaker {
        match self {
            Inner::Private(b) => b,
            Inner::Shared(s) => s.breaker(),
        }
    }
}

impl Inner {
    #[inline]
    pub fn try_acquire(&self, now: u64) -> Result<Permit, Rejected> {
        match self {
            Inner::Private(b) => b.try_acquire(now),
            Inner::Shared(s) => s.try_acquire(now),
        }
    }

    #[inline]
    pub fn try_record(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, RecordError> {
        match self {
            Inner::Private(b) => b.try_record(permit, outcome, duration_ns, now),
            Inner::Shared(s) => s.try_record(permit, outcome, duration_ns, now),
        }
    }

    fn manual(
        &self,
        now: u64,
        private: impl Fn(&Breaker, u64) -> Option<Transition>,
    ) -> Option<Transition> {
        let t = private(self, now);
        if let (Inner::Shared(s), Some(t)) = (self, t) {
            s.journal(&t);
        }
        t
    }

    pub fn trip(&self, now: u64) -> Option<Transition> {
        self.manual(now, Breaker::trip)
    }
    pub fn force_open(&self, now: u64) -> Option<Transition> {
        self.manual(now, Breaker::force_open)
    }
    pub fn disable(&self, now: u64) -> Option<Transition> {
        self.manual(now, Breaker::disable)
    }
    pub fn metrics_only(&self, now: u64) -> Option<Transition> {
        self.manual(now, Breaker::metrics_only)
    }
    pub fn reset(&self, now: u64) -> Option<Transition> {
        self.manual(now, Breaker::reset)
    }

    fn shared(&self) -> PyResult<&SharedBreaker> {
        match self {
            Inner::Shared(s) => Ok(s),
            Inner::Private(_) => {
                Err(pyo3::exceptions::PyTypeError::new_err("breaker: not a shared breaker"))
            }
        }
    }
}

fn kind(e: &SharedError) -> &'static str {
    match e {
        SharedError::Io { .. } => "io",
        SharedError::AtomicsNotLockFree => "unsupported",
        SharedError::InvalidName(_) => "invalid_name",
        SharedError::NotARegion { .. } => "not_a_region",
        SharedError::Version { .. } => "version",
        SharedError::Layout { .. } => "layout",
        SharedError::Config { .. } => "config",
        SharedError::Truncated { .. } => "truncated",
        SharedError::Corrupt { .. } => "corrupt",
        SharedError::CreationTimeout { .. } => "creation_timeout",
        _ => "io",
    }
}

/// `ringbreaker.SharedRegionError(kind, message, path)`.
fn py_err(py: Python<'_>, e: SharedError, path: &str) -> PyErr {
    PyErr::from_type(
        types::get(py).shared_region.bind(py).clone(),
        (kind(&e), e.to_string(), path.to_owned()),
    )
}

/// The default path of a region named `name`.
#[pyfunction]
pub fn shared_default_path(py: Python<'_>, name: &str) -> PyResult<String> {
    SharedBreaker::default_path(name)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| py_err(py, e, ""))
}

/// A `NativeBreaker` with the settings of `template` (name, classifier, listeners, clock)
/// over the shared region at `path`, created with `template`'s config if absent.
#[pyfunction]
pub fn share(py: Python<'_>, template: &NativeBreaker, path: PathBuf) -> PyResult<NativeBreaker> {
    let cfg = *template.inner().config();
    let shown = path.to_string_lossy().into_owned();
    let s = py.detach(|| SharedBreaker::open(&path, cfg)).map_err(|e| py_err(py, e, &shown))?;
    template.with_inner(py, Inner::Shared(s))
}

/// Remove a region's file (mappings stay valid; a later open creates a new region).
#[pyfunction]
pub fn shared_unlink(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    let shown = path.to_string_lossy().into_owned();
    SharedBreaker::unlink(&path).map_err(|e| py_err(py, e, &shown))
}

/// Nanoseconds on CLOCK_MONOTONIC, the host-wide clock shared breakers run on.
#[pyfunction]
pub fn shared_now_ns() -> u64 {
    crate::clock::host_ns()
}

/// (transitions after `since`, missed, current generation) from the region's journal.
#[pyfunction]
pub fn shared_history(
    py: Python<'_>,
    b: &NativeBreaker,
    since: u32,
) -> PyResult<(Vec<Py<PyAny>>, u32, u32)> {
    let h = b.inner().shared()?.history(since);
    let ts = h
        .transitions
        .iter()
        .map(|t| transition_value(py, b.name_ref(), t, None))
        .collect::<PyResult<_>>()?;
    Ok((ts, h.missed, h.generation))
}

/// What the region's header says, and how this process opened it.
#[pyfunction]
pub fn shared_info<'py>(py: Python<'py>, b: &NativeBreaker) -> PyResult<Bound<'py, PyDict>> {
    let s = b.inner().shared()?;
    let i = s.info();
    let d = PyDict::new(py);
    d.set_item("path", s.path().to_string_lossy().into_owned())?;
    let (opened, dead) = match s.opened() {
        Opened::Created => ("created", None),
        Opened::Attached => ("attached", None),
        Opened::Recovered { dead_pid } => ("recovered", Some(dead_pid)),
    };
    d.set_item("opened", opened)?;
    d.set_item("dead_creator_pid", dead)?;
    d.set_item("format_version", i.format_version)?;
    d.set_item("creator_pid", i.creator_pid)?;
    d.set_item("created_unix_ns", i.created_unix_ns)?;
    d.set_item("region_id", i.region_id)?;
    d.set_item("layout_hash", i.layout_hash)?;
    d.set_item("config_hash", i.config_hash)?;
    d.set_item("file_size", i.file_size)?;
    Ok(d)
}

/// Register the shared-breaker functions on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(share, m)?)?;
    m.add_function(wrap_pyfunction!(shared_default_path, m)?)?;
    m.add_function(wrap_pyfunction!(shared_unlink, m)?)?;
    m.add_function(wrap_pyfunction!(shared_now_ns, m)?)?;
    m.add_function(wrap_pyfunction!(shared_history, m)?)?;
    m.add_function(wrap_pyfunction!(shared_info, m)?)?;
    Ok(())
}
