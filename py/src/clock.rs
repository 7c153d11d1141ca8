//! Clocks: the core's default, a native manual clock, or any Python callable.

use core::sync::atomic::{AtomicU64, Ordering};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A clock for tests and replays: integer nanoseconds that move only when told to. Reading it
/// from the breaker costs an atomic load, not a Python call.
#[pyclass(frozen, module = "ringbreaker._native")]
pub struct ManualClock {
    ns: AtomicU64,
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (start_ns = 0))]
    fn new(start_ns: u64) -> Self {
        ManualClock { ns: AtomicU64::new(start_ns) }
    }

    /// The current time in nanoseconds.
    fn __call__(&self) -> u64 {
        self.ns.load(Ordering::Acquire)
    }

    /// The current time in nanoseconds.
    #[getter]
    fn now_ns(&self) -> u64 {
        self.ns.load(Ordering::Acquire)
    }

    /// Move forward by `seconds` (a number >= 0 or a `datetime.timedelta`).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.advance_ns(crate::config::seconds_to_ns("seconds", seconds, ">= 0")?)
    }

    /// Move forward by `ns` nanoseconds.
    fn advance_ns(&self, ns: u64) -> PyResult<()> {
        let mut cur = self.ns.load(Ordering::Acquire);
        loop {
            let Some(next) = cur.checked_add(ns) else {
                return Err(PyValueError::new_err("ns: the clock would overflow u64"));
            };
            match self.ns.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(found) => cur = found,
            }
        }
    }

    /// Set the time (it may go backwards, as a stepped wall clock would).
    fn set_ns(&self, ns: u64) {
        self.ns.store(ns, Ordering::Release);
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now_ns={})", self.ns.load(Ordering::Acquire))
    }
}

/// Where a breaker reads time.
pub enum Clock {
    Default,
    /// CLOCK_MONOTONIC, one clock for the whole host: the default of shared breakers.
    Host,
    Manual(Py<ManualClock>),
    Callable(Py<PyAny>),
}

impl Clock {
    /// Whether reading this clock cannot fail (it calls no Python code), so a read may be
    /// deferred to where an error could no longer be reported cleanly.
    pub fn infallible(&self) -> bool {
        !matches!(self, Clock::Callable(_))
    }

    pub fn from_py(clock: Option<Bound<'_, PyAny>>) -> PyResult<Clock> {
        match clock {
            None => Ok(Clock::Default),
            Some(c) if c.is_none() => Ok(Clock::Default),
            Some(c) => match c.cast::<ManualClock>() {
                Ok(m) => Ok(Clock::Manual(m.clone().unbind())),
                Err(_) if c.is_callable() => Ok(Clock::Callable(c.unbind())),
                Err(_) => Err(PyTypeError::new_err(
                    "clock must be None, a ManualClock, or a callable returning integer nanoseconds",
                )),
            },
        }
    }

    #[inline]
    pub fn read(&self, py: Python<'_>) -> PyResult<u64> {
        match self {
            Clock::Default => Ok(default_ns()),
            Clock::Host => Ok(host_ns()),
            Clock::Manual(m) => Ok(m.get().ns.load(Ordering::Acquire)),
            Clock::Callable(f) => f.call0(py)?.extract::<u64>(py).map_err(|_| {
                PyTypeError::new_err("clock must return a non-negative integer of nanoseconds")
            }),
        }
    }

    /// The time to stamp an untimed success with (a Closed-state call that needs no
    /// duration): the coarse clock for the default and host clocks (see `mono`), else `read`.
    /// Only the bucket of the success depends on it; the breaker asks this only where
    /// `ringbreaker::coarse_clock_serves` (a lag of one tick then moves the success at most
    /// into the bucket before its own, still in the window).
    #[inline]
    pub fn read_untimed(&self, py: Python<'_>) -> PyResult<u64> {
        match self {
            Clock::Default => Ok(mono::default_coarse()),
            Clock::Host => Ok(mono::host_coarse()),
            _ => self.read(py),
        }
    }
}

/// The default clock: the core's `ringbreaker::now_ns` (CLOCK_MONOTONIC from the process's
/// first reading).
#[inline]
pub fn default_ns() -> u64 {
    ringbreaker::now_ns()
}

/// The host-wide clock of shared breakers: `SharedBreaker::now_ns`.
#[inline]
pub fn host_ns() -> u64 {
    ringbreaker::SharedBreaker::now_ns()
}

/// The coarse clocks for untimed successes: the core's `now_ns_coarse` for the default clock;
/// for the host clock, CLOCK_MONOTONIC_COARSE on Linux (the host clock as of the kernel's last
/// tick: a few nanoseconds a read instead of ~25, at most one 1–4 ms tick behind, never
/// backwards), elsewhere the host clock itself.
mod mono {
    #[inline]
    pub fn default_coarse() -> u64 {
        ringbreaker::now_ns_coarse()
    }

    #[cfg(target_os = "linux")]
    #[inline]
    pub fn host_coarse() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid out-pointer; the clock exists on every Linux since 2.6.32.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
            return 0;
        }
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
    }

    #[cfg(not(target_os = "linux"))]
    #[inline]
    pub fn host_coarse() -> u64 {
        super::host_ns()
    }
}
