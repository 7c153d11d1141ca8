//! Series through the `metrics` facade, under Resilience4j's names (feature `metrics`).

use metrics::{SharedString, counter, gauge, histogram};

use crate::breaker::Breaker;
use crate::state::State;
use crate::types::{Metrics, Outcome, Transition};

const STATES: [State; 6] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::Disabled,
    State::MetricsOnly,
];

/// Publishes one breaker's series through the [`metrics`] facade, to whatever recorder the
/// program installed (a Prometheus exporter, StatsD, ...).
///
/// It does nothing by itself and adds nothing to the breaker's paths: the program calls
/// [`observe`](Self::observe) when it wants the gauges fresh (on each scrape, or every few
/// seconds), [`record_call`](Self::record_call) for each call it timed, and
/// [`record_transition`](Self::record_transition) with the transitions its calls returned.
///
/// The series carry the label `name` and use the names Resilience4j's Micrometer binding
/// exports (so its dashboards work), the same as the Python binding's Prometheus collector:
///
/// | series | kind | labels | value |
/// | --- | --- | --- | --- |
/// | `resilience4j_circuitbreaker_state` | gauge | `name`, `state` | 1 for the current state, 0 for the five others (`closed`, `open`, `half_open`, `forced_open`, `disabled`, `metrics_only`) |
/// | `resilience4j_circuitbreaker_buffered_calls` | gauge | `name`, `kind` = `successful` / `failed` | calls in the current window |
/// | `resilience4j_circuitbreaker_slow_calls` | gauge | `name` | slow calls in the window (not split by outcome) |
/// | `resilience4j_circuitbreaker_failure_rate` | gauge | `name` | percent, 0..=100 (never Resilience4j's -1: below `minimum_calls` it is the plain rate) |
/// | `resilience4j_circuitbreaker_slow_call_rate` | gauge | `name` | percent, 0..=100 |
/// | `resilience4j_circuitbreaker_not_permitted_calls_total` | counter | `name`, `kind` = `not_permitted` | calls rejected since construction |
/// | `resilience4j_circuitbreaker_calls_seconds` | histogram | `name`, `kind` = `successful` / `failed` / `ignored` | durations given to `record_call` |
/// | `resilience4j_circuitbreaker_stale_calls_total` | counter | `name` | ringbreaker's own: outcomes from an older generation |
/// | `resilience4j_circuitbreaker_generation` | gauge | `name` | ringbreaker's own: transitions so far |
/// | `resilience4j_circuitbreaker_transitions_total` | counter | `name`, `from_state`, `to_state`, `reason` | ringbreaker's own: transitions given to `record_transition` |
///
/// [`ringbreaker_names`](Self::ringbreaker_names) gives every series the `ringbreaker_` prefix
/// instead of `resilience4j_`.
///
/// ```
/// use ringbreaker::{CircuitBreaker, MetricsReporter, Outcome, now_ns};
/// let b = CircuitBreaker::default();
/// let reporter = MetricsReporter::new("orders");
/// let start = now_ns();
/// let permit = b.try_acquire(start).unwrap();
/// let end = now_ns();
/// if let Some(t) = b.record(permit, Outcome::Success, end) {
///     reporter.record_transition(&t);
/// }
/// reporter.record_call(Outcome::Success, end - start);
/// reporter.observe(&b, now_ns());   // e.g. on each scrape
/// ```
#[derive(Clone, Debug)]
pub struct MetricsReporter {
    name: SharedString,
    prefix: &'static str,
}

/// The names of one prefix's series, built once per prefix.
struct Names {
    state: &'static str,
    buffered: &'static str,
    slow: &'static str,
    failure_rate: &'static str,
    slow_rate: &'static str,
    not_permitted: &'static str,
    calls: &'static str,
    stale: &'static str,
    generation: &'static str,
    transitions: &'static str,
}

macro_rules! names {
    ($p:literal) => {
        Names {
            state: concat!($p, "_circuitbreaker_state"),
            buffered: concat!($p, "_circuitbreaker_buffered_calls"),
            slow: concat!($p, "_circuitbreaker_slow_calls"),
            failure_rate: concat!($p, "_circuitbreaker_failure_rate"),
            slow_rate: concat!($p, "_circuitbreaker_slow_call_rate"),
            not_permitted: concat!($p, "_circuitbreaker_not_permitted_calls_total"),
            calls: concat!($p, "_circuitbreaker_calls_seconds"),
            stale: concat!($p, "_circuitbreaker_stale_calls_total"),
            generation: concat!($p, "_circuitbreaker_generation"),
            transitions: concat!($p, "_circuitbreaker_transitions_total"),
        }
    };
}

const RESILIENCE4J: Names = names!("resilience4j");
const RINGBREAKER: Names = names!("ringbreaker");

impl MetricsReporter {
    /// A reporter for the breaker called `name` (the `name` label of every series).
    pub fn new(name: impl Into<SharedString>) -> Self {
        Self { name: name.into(), prefix: "resilience4j" }
    }

    /// Name every series `ringbreaker_circuitbreaker_...` instead of
    /// `resilience4j_circuitbreaker_...`.
    pub fn ringbreaker_names(mut self) -> Self {
        self.prefix = "ringbreaker";
        self
    }

    /// The `name` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn names(&self) -> &'static Names {
        if self.prefix == "ringbreaker" { &RINGBREAKER } else { &RESILIENCE4J }
    }

    /// Take a [`snapshot`](Breaker::snapshot) at `now` and set every gauge and total from it
    /// (one O(buckets) snapshot, no lock shared with calls). Returns the snapshot.
    pub fn observe(&self, breaker: &Breaker, now: u64) -> Metrics {
        let m = breaker.snapshot(now);
        self.publish(&m);
        m
    }

    /// Set every gauge and total from a snapshot taken elsewhere.
    pub fn publish(&self, m: &Metrics) {
        let n = self.names();
        let name = &self.name;
        for s in STATES {
            let v = if m.state == s { 1.0 } else { 0.0 };
            gauge!(n.state, "name" => name.clone(), "state" => s.as_str()).set(v);
        }
        gauge!(n.buffered, "name" => name.clone(), "kind" => "successful").set(m.successes as f64);
        gauge!(n.buffered, "name" => name.clone(), "kind" => "failed").set(m.failures as f64);
        gauge!(n.slow, "name" => name.clone()).set(m.slow_calls as f64);
        gauge!(n.failure_rate, "name" => name.clone()).set(m.failure_rate * 100.0);
        gauge!(n.slow_rate, "name" => name.clone()).set(m.slow_call_rate * 100.0);
        counter!(n.not_permitted, "name" => name.clone(), "kind" => "not_permitted")
            .absolute(m.rejected);
        counter!(n.stale, "name" => name.clone()).absolute(m.stale);
        gauge!(n.generation, "name" => name.clone()).set(f64::from(m.generation));
    }

    /// Record one call's duration, in nanoseconds, in the `calls_seconds` histogram (in
    /// seconds) under `kind` = `successful`, `failed` or `ignored`.
    pub fn record_call(&self, outcome: Outcome, duration_ns: u64) {
        let kind = match outcome {
            Outcome::Success => "successful",
            Outcome::Failure => "failed",
            Outcome::Ignored => "ignored",
        };
        histogram!(self.names().calls, "name" => self.name.clone(), "kind" => kind)
            .record(duration_ns as f64 / 1e9);
    }

    /// Count a transition (one your calls returned) in `transitions_total`.
    pub fn record_transition(&self, t: &Transition) {
        counter!(
            self.names().transitions,
            "name" => self.name.clone(),
            "from_state" => t.from.as_str(),
            "to_state" => t.to.as_str(),
            "reason" => t.reason.as_str(),
        )
        .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeMap;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    use super::*;
    use crate::{CircuitBreaker, Config};

    const MS: u64 = 1_000_000;

    /// (kind, name, sorted labels) -> value, from the recorder's snapshot.
    type Series = BTreeMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

    fn capture(f: impl FnOnce()) -> Series {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(ck, _, _, v): (CompositeKey, _, _, _)| {
                let (kind, key) = ck.into_parts();
                let mut labels: Vec<(String, String)> =
                    key.labels().map(|l| (l.key().to_string(), l.value().to_string())).collect();
                labels.sort();
                ((kind, key.name().to_string(), labels), v)
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        v.sort();
        v
    }

    fn gauge_of(s: &Series, name: &str, l: &[(&str, &str)]) -> f64 {
        match s.get(&(MetricKind::Gauge, name.to_string(), labels(l))) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("gauge {name}{l:?}: {other:?}"),
        }
    }

    fn counter_of(s: &Series, name: &str, l: &[(&str, &str)]) -> u64 {
        match s.get(&(MetricKind::Counter, name.to_string(), labels(l))) {
            Some(DebugValue::Counter(v)) => *v,
            other => panic!("counter {name}{l:?}: {other:?}"),
        }
    }

    /// Closed with 3 successes, 1 failure (one of them slow), then tripped and 2 rejected.
    fn exercised() -> (CircuitBreaker, u64) {
        let cfg = Config::builder()
            .minimum_calls(100)
            .slow_call_ns(10 * MS)
            .open_ns(1_000 * MS)
            .build()
            .unwrap();
        let b = CircuitBreaker::new(cfg);
        for (i, o) in [Outcome::Success, Outcome::Success, Outcome::Failure, Outcome::Success]
            .into_iter()
            .enumerate()
        {
            let t = i as u64 * MS;
            let p = b.try_acquire(t).unwrap();
            let took = if i == 0 { 20 * MS } else { MS };
            b.record_timed(p, o, took, t);
        }
        (b, 10 * MS)
    }

    #[test]
    fn observe_sets_the_resilience4j_series() {
        let (b, now) = exercised();
        let reporter = MetricsReporter::new("orders");
        let mut m = None;
        let s = capture(|| m = Some(reporter.observe(&b, now)));
        let m = m.unwrap();
        assert_eq!((m.successes, m.failures, m.slow_calls), (3, 1, 1));
        let p = "resilience4j_circuitbreaker";
        for st in STATES {
            let want = if st == State::Closed { 1.0 } else { 0.0 };
            assert_eq!(
                gauge_of(&s, &format!("{p}_state"), &[("name", "orders"), ("state", st.as_str())]),
                want,
                "{st}"
            );
        }
        let buffered = format!("{p}_buffered_calls");
        assert_eq!(gauge_of(&s, &buffered, &[("name", "orders"), ("kind", "successful")]), 3.0);
        assert_eq!(gauge_of(&s, &buffered, &[("name", "orders"), ("kind", "failed")]), 1.0);
        assert_eq!(gauge_of(&s, &format!("{p}_slow_calls"), &[("name", "orders")]), 1.0);
        assert_eq!(gauge_of(&s, &format!("{p}_failure_rate"), &[("name", "orders")]), 25.0);
        assert_eq!(gauge_of(&s, &format!("{p}_slow_call_rate"), &[("name", "orders")]), 25.0);
        let np = format!("{p}_not_permitted_calls_total");
        assert_eq!(counter_of(&s, &np, &[("name", "orders"), ("kind", "not_permitted")]), 0);
        assert_eq!(counter_of(&s, &format!("{p}_stale_calls_total"), &[("name", "orders")]), 0);
        let generation = gauge_of(&s, &format!("{p}_generation"), &[("name", "orders")]);
        assert_eq!(generation, f64::from(m.generation));
        assert!(s.keys().all(|(_, n, _)| n.starts_with("resilience4j_")), "{s:?}");
    }

    #[test]
    fn states_rejections_and_stale_totals_follow_the_breaker() {
        let (b, now) = exercised();
        let old = b.try_acquire(now).unwrap();
        let trip = b.trip(now).expect("trips");
        for _ in 0..2 {
            assert!(b.try_acquire(now + 1).is_err());
        }
        let _ = b.record(old, Outcome::Failure, now + 1); // from the old generation: stale
        assert_eq!(trip.generation, b.snapshot(now + 2).generation);
        let reporter = MetricsReporter::new("orders");
        let s = capture(|| {
            reporter.observe(&b, now + 2);
            reporter.record_transition(&trip);
        });
        let p = "resilience4j_circuitbreaker";
        assert_eq!(
            gauge_of(&s, &format!("{p}_state"), &[("name", "orders"), ("state", "open")]),
            1.0
        );
        assert_eq!(
            gauge_of(&s, &format!("{p}_state"), &[("name", "orders"), ("state", "closed")]),
            0.0
        );
        let np = format!("{p}_not_permitted_calls_total");
        assert_eq!(counter_of(&s, &np, &[("name", "orders"), ("kind", "not_permitted")]), 2);
        assert_eq!(counter_of(&s, &format!("{p}_stale_calls_total"), &[("name", "orders")]), 1);
        let generation = gauge_of(&s, &format!("{p}_generation"), &[("name", "orders")]);
        assert_eq!(generation, f64::from(trip.generation));
        let tl = [
            ("name", "orders"),
            ("from_state", "closed"),
            ("to_state", "open"),
            ("reason", "trip"),
        ];
        assert_eq!(counter_of(&s, &format!("{p}_transitions_total"), &tl), 1);
    }

    #[test]
    fn record_call_fills_the_calls_seconds_histogram_by_kind() {
        let reporter = MetricsReporter::new("orders");
        let s = capture(|| {
            reporter.record_call(Outcome::Success, 1_500 * MS);
            reporter.record_call(Outcome::Success, 500 * MS);
            reporter.record_call(Outcome::Failure, 2 * MS);
            reporter.record_call(Outcome::Ignored, 0);
        });
        let name = "resilience4j_circuitbreaker_calls_seconds".to_string();
        let hist = |kind: &str| match s.get(&(
            MetricKind::Histogram,
            name.clone(),
            labels(&[("name", "orders"), ("kind", kind)]),
        )) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect::<Vec<_>>(),
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(hist("successful"), [1.5, 0.5]);
        assert_eq!(hist("failed"), [0.002]);
        assert_eq!(hist("ignored"), [0.0]);
    }

    #[test]
    fn ringbreaker_names_swap_the_prefix() {
        let (b, now) = exercised();
        let reporter = MetricsReporter::new("orders").ringbreaker_names();
        let s = capture(|| {
            reporter.observe(&b, now);
            reporter.record_call(Outcome::Success, MS);
        });
        assert!(!s.is_empty());
        assert!(s.keys().all(|(_, n, _)| n.starts_with("ringbreaker_circuitbreaker_")), "{s:?}");
        assert_eq!(
            gauge_of(&s, "ringbreaker_circuitbreaker_failure_rate", &[("name", "orders")]),
            25.0
        );
    }

    #[test]
    fn a_breaker_call_records_nothing_without_the_reporter() {
        let (b, now) = exercised();
        let s = capture(|| {
            let p = b.try_acquire(now).unwrap();
            let _ = b.record(p, Outcome::Failure, now);
            let _ = b.call(|| Ok::<_, ()>(()));
        });
        assert!(s.is_empty(), "the breaker's own paths publish nothing: {s:?}");
    }
}
