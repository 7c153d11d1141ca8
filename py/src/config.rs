//! `Config`: the core's `Config`, built from Python values (seconds as int, float or
//! `datetime.timedelta`). The core validates; this layer converts units and types, and words
//! the core's errors with the Python parameter, in seconds, with the accepted range.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyTuple};
use ringbreaker::{
    Config, ConfigError, MAX_BUCKETS, MAX_HALF_OPEN_PERMITS, MAX_RING_SLOTS, MAX_STRIPES,
};

use crate::types;

/// The largest duration, in seconds: `u64::MAX` nanoseconds.
const MAX_SECONDS: &str = "18446744073.709551615";

/// A `ConfigError(message, parameter)`.
pub fn config_error(py: Python<'_>, param: &str, msg: String) -> PyErr {
    PyErr::from_type(types::get(py).config_error.bind(py).clone(), (msg, param.to_owned()))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// Seconds as a number or `datetime.timedelta`, to nanoseconds (rounded to the nearest).
/// `range` words the accepted values for the error message.
pub fn seconds_to_ns(param: &str, v: &Bound<'_, PyAny>, range: &str) -> PyResult<u64> {
    let py = v.py();
    let out_of_range = |shown: String| {
        config_error(
            py,
            param,
            format!("{param} must be {range} seconds (at most {MAX_SECONDS}), got {shown}"),
        )
    };
    if v.is_instance(types::get(py).timedelta.bind(py))? {
        let days: i128 = v.getattr("days")?.extract()?;
        let secs: i128 = v.getattr("seconds")?.extract()?;
        let micros: i128 = v.getattr("microseconds")?.extract()?;
        let ns = ((days * 86_400 + secs) * 1_000_000 + micros) * 1_000;
        return u64::try_from(ns)
            .map_err(|_| out_of_range(v.str().map(|s| s.to_string()).unwrap_or_default()));
    }
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{param} must be a number of seconds or a datetime.timedelta, got {}",
            type_name(v)
        )));
    }
    if v.is_instance_of::<PyInt>() {
        return match v.extract::<i128>() {
            Ok(s) if s >= 0 => s
                .checked_mul(1_000_000_000)
                .and_then(|ns| u64::try_from(ns).ok())
                .ok_or_else(|| out_of_range(s.to_string())),
            _ => Err(out_of_range(v.to_string())),
        };
    }
    let f: f64 = if v.is_instance_of::<PyFloat>() {
        v.extract()?
    } else {
        // numbers.Real and anything else with __float__ (Fraction, Decimal, numpy scalars).
        match v.call_method0("__float__").and_then(|f| f.extract::<f64>()) {
            Ok(f) => f,
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "{param} must be a number of seconds or a datetime.timedelta, got {}",
                    type_name(v)
                )));
            }
        }
    };
    let ns = (f * 1e9).round();
    if !(0.0..18_446_744_073_709_551_616.0).contains(&ns) {
        return Err(out_of_range(format!("{f:?}")));
    }
    Ok(ns as u64)
}

fn given<'py>(v: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
    v.filter(|v| !v.is_none()).cloned()
}

fn optional_seconds(
    param: &str,
    v: Option<&Bound<'_, PyAny>>,
    range: &str,
) -> PyResult<Option<u64>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => seconds_to_ns(param, v, range).map(Some),
    }
}

/// An int in `low..=high`.
fn int(param: &str, v: &Bound<'_, PyAny>, low: u32, high: u32) -> PyResult<u32> {
    let py = v.py();
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{param} must be an int, got {}", type_name(v))));
    }
    match v.extract::<i128>() {
        Ok(n) if (i128::from(low)..=i128::from(high)).contains(&n) => Ok(n as u32),
        _ => Err(config_error(
            py,
            param,
            format!("{param} must be an int in {low}..={high}, got {v}"),
        )),
    }
}

/// A float (int accepted); the core checks its range.
fn number(param: &str, v: &Bound<'_, PyAny>, range: &str) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{param} must be a number {range}, got {}",
            type_name(v)
        )));
    }
    v.call_method0("__float__").and_then(|f| f.extract::<f64>()).map_err(|_| {
        PyTypeError::new_err(format!("{param} must be a number {range}, got {}", type_name(v)))
    })
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The core's error, worded for Python: the parameter, in seconds, with the accepted range.
fn core_error(py: Python<'_>, e: &ConfigError) -> PyErr {
    let (param, msg) = match *e {
        ConfigError::ZeroWindow => ("window", "window must be > 0 seconds, got 0".to_owned()),
        ConfigError::ZeroBuckets | ConfigError::TooManyBuckets(_) => {
            ("buckets", format!("buckets must be an int in 1..={MAX_BUCKETS}, got {e}"))
        }
        ConfigError::WindowNotDivisible { window_ns, buckets } => (
            "window",
            format!(
                "window ({:?} s) must split into buckets ({buckets}) of a whole number of \
                 nanoseconds each; choose a window that is a multiple of {buckets} ns",
                secs(window_ns)
            ),
        ),
        ConfigError::FailureRate(v) => {
            ("failure_rate", format!("failure_rate must be a number in 0.0..=1.0, got {v:?}"))
        }
        ConfigError::SlowCallRate(v) => {
            ("slow_call_rate", format!("slow_call_rate must be a number in 0.0..=1.0, got {v:?}"))
        }
        ConfigError::ZeroSlowCallDuration => (
            "slow_call_duration",
            "slow_call_duration must be > 0 seconds (None disables slow-call detection), got 0"
                .to_owned(),
        ),
        ConfigError::ZeroHalfOpenPermits | ConfigError::TooManyHalfOpenPermits(_) => (
            "half_open_permits",
            format!("half_open_permits must be an int in 1..={MAX_HALF_OPEN_PERMITS}"),
        ),
        ConfigError::ZeroHalfOpenTimeout => (
            "half_open_timeout",
            "half_open_timeout must be > 0 seconds (None means one window), got 0".to_owned(),
        ),
        ConfigError::MaxOpenBelowOpen { open_ns, max_open_ns } => (
            "max_open_duration",
            format!(
                "max_open_duration ({:?} s) must be >= open_duration ({:?} s), or None",
                secs(max_open_ns),
                secs(open_ns)
            ),
        ),
        ConfigError::BackoffMultiplier(v) => (
            "backoff_multiplier",
            format!("backoff_multiplier must be a finite number >= 1.0, got {v:?}"),
        ),
        ConfigError::Stripes(n) => {
            ("stripes", format!("stripes must be a power of two in 1..={MAX_STRIPES}, got {n}"))
        }
        ConfigError::RingTooLarge { buckets, stripes } => (
            "stripes",
            format!(
                "stripes ({stripes}) x buckets ({buckets}) must be at most {MAX_RING_SLOTS} ring \
                 slots, got {}",
                u64::from(buckets) * u64::from(stripes)
            ),
        ),
        _ => {
            let param = python_name(e.field());
            (param, format!("{param}: {e}"))
        }
    };
    config_error(py, param, msg)
}

/// The Python parameter for a core field name.
fn python_name(field: &str) -> &'static str {
    match field {
        "window_ns" => "window",
        "slow_call_ns" => "slow_call_duration",
        "open_ns" => "open_duration",
        "max_open_ns" => "max_open_duration",
        "half_open_timeout_ns" => "half_open_timeout",
        "buckets" => "buckets",
        "failure_rate" => "failure_rate",
        "slow_call_rate" => "slow_call_rate",
        "half_open_permits" => "half_open_permits",
        "backoff_multiplier" => "backoff_multiplier",
        "stripes" => "stripes",
        _ => "config",
    }
}

/// A validated breaker configuration: the core's `Config`, made from Python values. Durations
/// are seconds (int, float or `datetime.timedelta`); an invalid value raises
/// `ringbreaker.ConfigError` (a `ValueError`) naming the parameter, or `TypeError`.
#[pyclass(frozen, module = "ringbreaker._native", name = "Config")]
pub struct PyConfig {
    pub cfg: Config,
    /// Whether `max_open_duration` was given (the core stores `open_ns` when it was not).
    max_open_given: bool,
}

#[pymethods]
impl PyConfig {
    #[new]
    #[pyo3(signature = (*, window = None, buckets = None, failure_rate = None, minimum_calls = None,
        consecutive_failures = None, slow_call_duration = None, slow_call_rate = None,
        open_duration = None, max_open_duration = None, backoff_multiplier = None,
        half_open_permits = None, half_open_timeout = None, stripes = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        window: Option<&Bound<'_, PyAny>>,
        buckets: Option<&Bound<'_, PyAny>>,
        failure_rate: Option<&Bound<'_, PyAny>>,
        minimum_calls: Option<&Bound<'_, PyAny>>,
        consecutive_failures: Option<&Bound<'_, PyAny>>,
        slow_call_duration: Option<&Bound<'_, PyAny>>,
        slow_call_rate: Option<&Bound<'_, PyAny>>,
        open_duration: Option<&Bound<'_, PyAny>>,
        max_open_duration: Option<&Bound<'_, PyAny>>,
        backoff_multiplier: Option<&Bound<'_, PyAny>>,
        half_open_permits: Option<&Bound<'_, PyAny>>,
        half_open_timeout: Option<&Bound<'_, PyAny>>,
        stripes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut b = Config::builder();
        if let Some(v) = given(window) {
            b = b.window_ns(seconds_to_ns("window", &v, "> 0")?);
        }
        if let Some(v) = given(buckets) {
            b = b.buckets(int("buckets", &v, 1, MAX_BUCKETS)?);
        }
        if let Some(v) = given(failure_rate) {
            b = b.failure_rate(number("failure_rate", &v, "in 0.0..=1.0")?);
        }
        if let Some(v) = given(minimum_calls) {
            b = b.minimum_calls(int("minimum_calls", &v, 0, u32::MAX)?);
        }
        if let Some(v) = given(consecutive_failures) {
            b = b.consecutive_failures(int("consecutive_failures", &v, 1, u32::MAX)?);
        }
        if let Some(ns) = optional_seconds("slow_call_duration", slow_call_duration, "> 0")? {
            b = b.slow_call_ns(ns);
        }
        if let Some(v) = given(slow_call_rate) {
            b = b.slow_call_rate(number("slow_call_rate", &v, "in 0.0..=1.0")?);
        }
        if let Some(v) = given(open_duration) {
            b = b.open_ns(seconds_to_ns("open_duration", &v, ">= 0")?);
        }
        let max_open =
            optional_seconds("max_open_duration", max_open_duration, ">= open_duration and")?;
        if let Some(ns) = max_open {
            b = b.max_open_ns(ns);
        }
        if let Some(v) = given(backoff_multiplier) {
            b = b.backoff_multiplier(number("backoff_multiplier", &v, ">= 1.0")?);
        }
        if let Some(v) = given(half_open_permits) {
            b = b.half_open_permits(int("half_open_permits", &v, 1, MAX_HALF_OPEN_PERMITS)?);
        }
        if let Some(ns) = optional_seconds("half_open_timeout", half_open_timeout, "> 0")? {
            b = b.half_open_timeout_ns(ns);
        }
        if let Some(v) = given(stripes) {
            // The range here; "a power of two" is the core's check (ConfigError::Stripes).
            b = b.stripes(int("stripes", &v, 1, MAX_STRIPES)?);
        }
        let cfg = b.build().map_err(|e| core_error(py, &e))?;
        Ok(PyConfig { cfg, max_open_given: max_open.is_some() })
    }

    /// Window length, seconds.
    #[getter]
    fn window(&self) -> f64 {
        secs(self.cfg.window_ns())
    }
    #[getter]
    fn buckets(&self) -> u32 {
        self.cfg.buckets()
    }
    #[getter]
    fn failure_rate(&self) -> f64 {
        self.cfg.failure_rate()
    }
    #[getter]
    fn minimum_calls(&self) -> u32 {
        self.cfg.minimum_calls()
    }
    #[getter]
    fn consecutive_failures(&self) -> Option<u32> {
        self.cfg.consecutive_failures()
    }
    #[getter]
    fn slow_call_duration(&self) -> Option<f64> {
        self.cfg.slow_call_ns().map(secs)
    }
    #[getter]
    fn slow_call_rate(&self) -> f64 {
        self.cfg.slow_call_rate()
    }
    #[getter]
    fn open_duration(&self) -> f64 {
        secs(self.cfg.open_ns())
    }
    #[getter]
    fn max_open_duration(&self) -> Option<f64> {
        self.max_open_given.then(|| secs(self.cfg.max_open_ns()))
    }
    #[getter]
    fn backoff_multiplier(&self) -> f64 {
        self.cfg.backoff_multiplier()
    }
    #[getter]
    fn half_open_permits(&self) -> u32 {
        self.cfg.half_open_permits()
    }
    /// Seconds a half-open trial lease may be out (the window when not given).
    #[getter]
    fn half_open_timeout(&self) -> f64 {
        secs(self.cfg.half_open_timeout_ns())
    }
    /// Copies of the ring the window is striped over (1: not striped). Each thread counts in
    /// its own stripe; totals, rates and metrics sum every stripe.
    #[getter]
    fn stripes(&self) -> u32 {
        self.cfg.stripes()
    }
    /// Bytes of ring memory one stripe costs (`buckets` cache-padded buckets); a breaker's
    /// ring is `stripes` times this.
    #[getter]
    fn stripe_bytes(&self) -> usize {
        self.cfg.stripe_bytes()
    }

    /// Pickle as the keyword arguments that rebuild it (durations as float seconds: exact to
    /// the nanosecond up to about 104 days).
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let kw = PyDict::new(py);
        kw.set_item("window", self.window())?;
        kw.set_item("buckets", self.cfg.buckets())?;
        kw.set_item("failure_rate", self.cfg.failure_rate())?;
        kw.set_item("minimum_calls", self.cfg.minimum_calls())?;
        kw.set_item("consecutive_failures", self.cfg.consecutive_failures())?;
        kw.set_item("slow_call_duration", self.slow_call_duration())?;
        kw.set_item("slow_call_rate", self.cfg.slow_call_rate())?;
        kw.set_item("open_duration", self.open_duration())?;
        kw.set_item("max_open_duration", self.max_open_duration())?;
        kw.set_item("backoff_multiplier", self.cfg.backoff_multiplier())?;
        kw.set_item("half_open_permits", self.cfg.half_open_permits())?;
        kw.set_item("half_open_timeout", self.half_open_timeout())?;
        kw.set_item("stripes", self.cfg.stripes())?;
        Ok((PyTuple::empty(py), kw))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyConfig>().is_ok_and(|o| self.key() == o.get().key())
    }

    fn __hash__(&self) -> u64 {
        let k = self.key();
        k.0.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, x| (h ^ x).wrapping_mul(0x100_0000_01b3))
    }

    fn __repr__(&self) -> String {
        let c = &self.cfg;
        let opt = |v: Option<f64>| v.map_or_else(|| "None".to_owned(), |v| format!("{v:?}"));
        format!(
            "Config(window={:?}, buckets={}, failure_rate={:?}, minimum_calls={}, consecutive_failures={}, \
             slow_call_duration={}, slow_call_rate={:?}, open_duration={:?}, max_open_duration={}, \
             backoff_multiplier={:?}, half_open_permits={}, half_open_timeout={:?}, stripes={})",
            self.window(),
            c.buckets(),
            c.failure_rate(),
            c.minimum_calls(),
            c.consecutive_failures().map_or_else(|| "None".to_owned(), |n| n.to_string()),
            opt(self.slow_call_duration()),
            c.slow_call_rate(),
            self.open_duration(),
            opt(self.max_open_duration()),
            c.backoff_multiplier(),
            c.half_open_permits(),
            self.half_open_timeout(),
            c.stripes(),
        )
    }
}

impl PyConfig {
    /// Every field, as comparable bits.
    fn key(&self) -> ([u64; 13], bool) {
        let c = &self.cfg;
        (
            [
                c.window_ns(),
                u64::from(c.buckets()),
                c.failure_rate().to_bits(),
                u64::from(c.minimum_calls()),
                u64::from(c.consecutive_failures().unwrap_or(0)),
                c.slow_call_ns().unwrap_or(0),
                c.slow_call_rate().to_bits(),
                c.open_ns(),
                c.max_open_ns(),
                c.backoff_multiplier().to_bits(),
                u64::from(c.half_open_permits()),
                c.half_open_timeout_ns(),
                u64::from(c.stripes()),
            ],
            self.max_open_given,
        )
    }
}
