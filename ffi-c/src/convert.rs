//! Conversions between the C structs and the core's types.

use core::ffi::CStr;

use ringbreaker::{Config, ConfigError, Metrics, Reason, State, Transition};

use crate::{rb_breaker_state, rb_config, rb_metrics, rb_reason, rb_transition};

pub(crate) fn to_config(c: &rb_config) -> Result<Config, ConfigError> {
    let mut b = Config::builder()
        .window_ns(c.window_ns)
        .buckets(c.buckets)
        .minimum_calls(c.minimum_calls)
        .failure_rate(c.failure_rate)
        .slow_call_rate(c.slow_call_rate)
        .consecutive_failures(c.consecutive_failures)
        .half_open_permits(c.half_open_permits)
        .open_ns(c.open_ns)
        .backoff_multiplier(c.backoff_multiplier);
    if c.slow_call_ns != 0 {
        b = b.slow_call_ns(c.slow_call_ns);
    }
    if c.max_open_ns != 0 {
        b = b.max_open_ns(c.max_open_ns);
    }
    // max_open_ns == 0: no cap (the core's default).
    if c.half_open_timeout_ns != 0 {
        b = b.half_open_timeout_ns(c.half_open_timeout_ns);
    }
    // stripes == 0: one stripe (the core's default), like the other "0 = default" fields.
    if c.stripes != 0 {
        b = b.stripes(c.stripes);
    }
    b.build()
}

pub(crate) fn from_config(c: &Config) -> rb_config {
    rb_config {
        window_ns: c.window_ns(),
        buckets: c.buckets(),
        minimum_calls: c.minimum_calls(),
        failure_rate: c.failure_rate(),
        slow_call_rate: c.slow_call_rate(),
        slow_call_ns: c.slow_call_ns().unwrap_or(0),
        consecutive_failures: c.consecutive_failures().unwrap_or(0),
        half_open_permits: c.half_open_permits(),
        open_ns: c.open_ns(),
        max_open_ns: if c.max_open_ns() == u64::MAX { 0 } else { c.max_open_ns() },
        backoff_multiplier: c.backoff_multiplier(),
        half_open_timeout_ns: c.half_open_timeout_ns(),
        stripes: c.stripes(),
    }
}

/// The rb_config field a config error names, as a static C string.
pub(crate) fn field_cstr(field: &str) -> &'static CStr {
    match field {
        "window_ns" => c"window_ns",
        "buckets" => c"buckets",
        "failure_rate" => c"failure_rate",
        "slow_call_rate" => c"slow_call_rate",
        "slow_call_ns" => c"slow_call_ns",
        "half_open_permits" => c"half_open_permits",
        "half_open_timeout_ns" => c"half_open_timeout_ns",
        "max_open_ns" => c"max_open_ns",
        "backoff_multiplier" => c"backoff_multiplier",
        "open_ns" => c"open_ns",
        "minimum_calls" => c"minimum_calls",
        "consecutive_failures" => c"consecutive_failures",
        "stripes" => c"stripes",
        _ => c"unknown",
    }
}

pub(crate) fn to_state(s: State) -> rb_breaker_state {
    match s {
        State::Closed => rb_breaker_state::RB_STATE_CLOSED,
        State::Open => rb_breaker_state::RB_STATE_OPEN,
        State::HalfOpen => rb_breaker_state::RB_STATE_HALF_OPEN,
        State::ForcedOpen => rb_breaker_state::RB_STATE_FORCED_OPEN,
        State::Disabled => rb_breaker_state::RB_STATE_DISABLED,
        State::MetricsOnly => rb_breaker_state::RB_STATE_METRICS_ONLY,
    }
}

fn to_reason(r: Reason) -> rb_reason {
    match r {
        Reason::FailureRate => rb_reason::RB_REASON_FAILURE_RATE,
        Reason::SlowCallRate => rb_reason::RB_REASON_SLOW_CALL_RATE,
        Reason::ConsecutiveFailures => rb_reason::RB_REASON_CONSECUTIVE_FAILURES,
        Reason::OpenElapsed => rb_reason::RB_REASON_OPEN_ELAPSED,
        Reason::TrialsSucceeded => rb_reason::RB_REASON_TRIALS_SUCCEEDED,
        Reason::TrialFailed => rb_reason::RB_REASON_TRIAL_FAILED,
        Reason::HalfOpenTimeout => rb_reason::RB_REASON_HALF_OPEN_TIMEOUT,
        Reason::Trip => rb_reason::RB_REASON_TRIP,
        Reason::ForceOpen => rb_reason::RB_REASON_FORCE_OPEN,
        Reason::Disable => rb_reason::RB_REASON_DISABLE,
        Reason::MetricsOnly => rb_reason::RB_REASON_METRICS_ONLY,
        Reason::Reset => rb_reason::RB_REASON_RESET,
    }
}

pub(crate) fn to_metrics(m: &Metrics) -> rb_metrics {
    rb_metrics {
        state: to_state(m.state),
        generation: m.generation,
        calls: m.calls,
        successes: m.successes,
        failures: m.failures,
        slow_calls: m.slow_calls,
        failure_rate: m.failure_rate,
        slow_call_rate: m.slow_call_rate,
        rejected: m.rejected,
        stale: m.stale,
        time_until_half_open_ns: m.time_until_half_open_ns.unwrap_or(0),
        open_ns: m.open_ns,
        has_time_until_half_open: m.time_until_half_open_ns.is_some(),
    }
}

/// Write `t` to `out` unless `out` is NULL.
///
/// # Safety
/// `out` must be NULL or valid for a write.
pub(crate) unsafe fn write_transition(out: *mut rb_transition, t: Option<Transition>) {
    if out.is_null() {
        return;
    }
    let v = match t {
        Some(t) => rb_transition {
            occurred: true,
            from: to_state(t.from),
            to: to_state(t.to),
            reason: to_reason(t.reason),
            generation: t.generation,
            at_ns: t.at,
        },
        None => rb_transition {
            occurred: false,
            from: rb_breaker_state::RB_STATE_CLOSED,
            to: rb_breaker_state::RB_STATE_CLOSED,
            reason: rb_reason::RB_REASON_RESET,
            generation: 0,
            at_ns: 0,
        },
    };
    // SAFETY: non-null, valid per the caller's contract.
    unsafe { out.write(v) };
}
