//! Property test: random sequences of acquire / record / manual operations / time jumps run
//! through the crate and through a small sequential reference model, compared at every step.
//!
//! The model keeps a plain list of timestamped records and recomputes everything from it; it
//! shares no code with the crate beyond the public enums.

use proptest::prelude::*;
use ringbreaker::{
    CircuitBreaker, Config, Metrics, Outcome, Permit, PermitKind, Reason, State, Transition,
};

#[derive(Clone, Debug)]
struct Params {
    window: u64,
    buckets: u64,
    minimum_calls: u32,
    failure_rate: f64,
    slow_rate: f64,
    slow_ns: u64,
    consecutive: u32,
    permits: u32,
    open_ns: u64,
    max_open_ns: u64,
    backoff: f64,
    half_open_timeout: u64,
}

impl Params {
    fn config(&self) -> Config {
        let mut b = Config::builder()
            .window_ns(self.window)
            .buckets(self.buckets as u32)
            .minimum_calls(self.minimum_calls)
            .failure_rate(self.failure_rate)
            .slow_call_rate(self.slow_rate)
            .consecutive_failures(self.consecutive)
            .half_open_permits(self.permits)
            .open_ns(self.open_ns)
            .max_open_ns(self.max_open_ns)
            .backoff_multiplier(self.backoff)
            .half_open_timeout_ns(self.half_open_timeout);
        if self.slow_ns > 0 {
            b = b.slow_call_ns(self.slow_ns);
        }
        b.build().expect("strategy yields valid configs")
    }
    fn width(&self) -> u64 {
        self.window / self.buckets
    }
}

#[derive(Clone, Copy, Debug)]
struct Rec {
    t: u64,
    generation: u32,
    failure: bool,
    slow: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct MPermit {
    generation: u32,
    kind: PermitKind,
}

/// The reference: obviously correct, slow, sequential.
struct Model {
    p: Params,
    state: State,
    generation: u32,
    window_gen: u32,
    entered_at: u64,
    open_ns: u64,
    issued: u32,
    successes: u32,
    streak: (u32, u32),
    records: Vec<Rec>,
    rejected: u64,
    stale: u64,
}

impl Model {
    fn new(p: Params) -> Self {
        Model {
            open_ns: p.open_ns,
            p,
            state: State::Closed,
            generation: 1,
            window_gen: 1,
            entered_at: 0,
            issued: 0,
            successes: 0,
            streak: (0, 0),
            records: Vec::new(),
            rejected: 0,
            stale: 0,
        }
    }

    /// (successes, failures, slow) of generation `g` over the window ending at `now`.
    fn counts(&self, g: u32, now: u64) -> (u64, u64, u64) {
        let c = now / self.p.width();
        let in_window = |r: &&Rec| {
            let p = r.t / self.p.width();
            r.generation == g && p <= c && c - p < self.p.buckets
        };
        let rs: Vec<&Rec> = self.records.iter().filter(in_window).collect();
        let f = rs.iter().filter(|r| r.failure).count() as u64;
        let s = rs.len() as u64 - f;
        let slow = rs.iter().filter(|r| r.slow).count() as u64;
        (s, f, slow)
    }

    fn go(&mut self, to: State, reason: Reason, now: u64, issued: u32) -> Transition {
        let from = self.state;
        self.open_ns = match reason {
            Reason::TrialFailed | Reason::HalfOpenTimeout => {
                let g = ((self.open_ns as f64) * self.p.backoff) as u64;
                g.max(self.open_ns).min(self.p.max_open_ns)
            }
            Reason::OpenElapsed => self.open_ns,
            _ => self.p.open_ns,
        };
        self.generation += 1;
        if to.records() {
            self.window_gen = self.generation;
        }
        self.state = to;
        self.entered_at = now;
        self.issued = issued;
        self.successes = 0;
        Transition { from, to, generation: self.generation, at: now, reason }
    }

    fn acquire(&mut self, now: u64) -> (Result<MPermit, State>, Option<Transition>) {
        let g = self.generation;
        match self.state {
            State::Closed | State::MetricsOnly => {
                (Ok(MPermit { generation: g, kind: PermitKind::Normal }), None)
            }
            State::Disabled => (Ok(MPermit { generation: g, kind: PermitKind::Passthrough }), None),
            State::ForcedOpen => {
                self.rejected += 1;
                (Err(State::ForcedOpen), None)
            }
            State::Open => {
                if now < self.entered_at.saturating_add(self.open_ns) {
                    self.rejected += 1;
                    (Err(State::Open), None)
                } else {
                    let t = self.go(State::HalfOpen, Reason::OpenElapsed, now, 1);
                    (Ok(MPermit { generation: t.generation, kind: PermitKind::Trial }), Some(t))
                }
            }
            State::HalfOpen => {
                if self.issued < self.p.permits {
                    self.issued += 1;
                    (Ok(MPermit { generation: g, kind: PermitKind::Trial }), None)
                } else if now.saturating_sub(self.entered_at) >= self.p.half_open_timeout {
                    self.rejected += 1;
                    let t = self.go(State::Open, Reason::HalfOpenTimeout, now, 0);
                    (Err(State::Open), Some(t))
                } else {
                    self.rejected += 1;
                    (Err(State::HalfOpen), None)
                }
            }
        }
    }

    fn record(
        &mut self,
        permit: MPermit,
        outcome: Outcome,
        dur: Option<u64>,
        now: u64,
    ) -> Option<Transition> {
        if permit.generation != self.generation {
            self.stale += 1;
            return None;
        }
        let slow = self.p.slow_ns > 0 && dur.is_some_and(|d| d >= self.p.slow_ns);
        match self.state {
            State::Closed | State::MetricsOnly => {
                if outcome == Outcome::Ignored {
                    return None;
                }
                let failure = outcome == Outcome::Failure;
                self.records.push(Rec { t: now, generation: self.generation, failure, slow });
                if self.state != State::Closed {
                    return None;
                }
                let mut hit = false;
                if self.p.consecutive > 0 {
                    let g = self.generation;
                    let n = if failure {
                        if self.streak.0 == g { self.streak.1 + 1 } else { 1 }
                    } else {
                        0
                    };
                    self.streak = (g, n);
                    hit = failure && n >= self.p.consecutive;
                }
                if !failure && !slow {
                    return None;
                }
                let reason = if hit {
                    Reason::ConsecutiveFailures
                } else {
                    let (s, f, sl) = self.counts(self.generation, now);
                    let calls = s + f;
                    if calls == 0 || calls < self.p.minimum_calls as u64 {
                        return None;
                    }
                    if f as f64 >= self.p.failure_rate * calls as f64 {
                        Reason::FailureRate
                    } else if self.p.slow_ns > 0 && sl as f64 >= self.p.slow_rate * calls as f64 {
                        Reason::SlowCallRate
                    } else {
                        return None;
                    }
                };
                Some(self.go(State::Open, reason, now, 0))
            }
            State::HalfOpen => {
                let failed = outcome == Outcome::Failure || (outcome == Outcome::Success && slow);
                if outcome == Outcome::Ignored {
                    self.issued = self.issued.saturating_sub(1);
                    None
                } else if failed {
                    Some(self.go(State::Open, Reason::TrialFailed, now, 0))
                } else if self.successes + 1 < self.p.permits {
                    self.successes += 1;
                    None
                } else {
                    Some(self.go(State::Closed, Reason::TrialsSucceeded, now, 0))
                }
            }
            _ => None,
        }
    }

    fn manual(&mut self, op: Manual, now: u64) -> Option<Transition> {
        let (to, reason, skip) = match op {
            Manual::Trip => {
                (State::Open, Reason::Trip, matches!(self.state, State::Open | State::ForcedOpen))
            }
            Manual::ForceOpen => {
                (State::ForcedOpen, Reason::ForceOpen, self.state == State::ForcedOpen)
            }
            Manual::Disable => (State::Disabled, Reason::Disable, self.state == State::Disabled),
            Manual::MetricsOnly => {
                (State::MetricsOnly, Reason::MetricsOnly, self.state == State::MetricsOnly)
            }
            Manual::Reset => (State::Closed, Reason::Reset, false),
        };
        if skip { None } else { Some(self.go(to, reason, now, 0)) }
    }

    fn metrics(&self, now: u64) -> Metrics {
        let wg = if self.state.records() { self.generation } else { self.window_gen };
        let (s, f, slow) = self.counts(wg, now);
        let calls = s + f;
        let rate = |n: u64| if calls == 0 { 0.0 } else { n as f64 / calls as f64 };
        Metrics {
            state: self.state,
            generation: self.generation,
            calls,
            successes: s,
            failures: f,
            slow_calls: slow,
            failure_rate: rate(f),
            slow_call_rate: rate(slow),
            rejected: self.rejected,
            stale: self.stale,
            time_until_half_open_ns: (self.state == State::Open)
                .then(|| self.entered_at.saturating_add(self.open_ns).saturating_sub(now)),
            open_ns: self.open_ns,
        }
    }

    fn effective_state(&self, now: u64) -> State {
        if self.state == State::Open && now >= self.entered_at.saturating_add(self.open_ns) {
            State::HalfOpen
        } else {
            self.state
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Manual {
    Trip,
    ForceOpen,
    Disable,
    MetricsOnly,
    Reset,
}

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    /// Record the permit at this index (modulo the pool) with this outcome and duration.
    Record(usize, Outcome, Option<u64>),
    Manual(Manual),
    /// Advance time by this fraction of the window, in thousandths (0 = same instant).
    Advance(u64),
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![Just(1u64), Just(2), Just(3), Just(5), Just(10)],
        prop_oneof![Just(1_000u64), Just(7), Just(1_000_000)],
        0u32..6,
        prop_oneof![Just(0.0), Just(0.25), Just(0.5), Just(0.75), Just(1.0)],
        prop_oneof![Just(0.0), Just(0.5), Just(1.0)],
        prop_oneof![Just(0u64), Just(1), Just(50)],
        0u32..4,
        1u32..4,
        (0u64..3, prop_oneof![Just(1.0), Just(2.0), Just(1.5)], 1u64..5, 1u64..4),
    )
        .prop_map(
            |(
                buckets,
                width,
                minimum_calls,
                failure_rate,
                slow_rate,
                slow_ns,
                consecutive,
                permits,
                o,
            )| {
                let (open_mult, backoff, max_mult, hot_mult) = o;
                let window = buckets * width;
                let open_ns = open_mult * window / 2;
                Params {
                    window,
                    buckets,
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                    slow_ns,
                    consecutive,
                    permits,
                    open_ns,
                    max_open_ns: open_ns * max_mult,
                    backoff,
                    half_open_timeout: hot_mult * window / 2 + 1,
                }
            },
        )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let outcome = prop_oneof![
        4 => Just(Outcome::Failure),
        4 => Just(Outcome::Success),
        1 => Just(Outcome::Ignored)
    ];
    let manual = prop_oneof![
        Just(Manual::Trip),
        Just(Manual::ForceOpen),
        Just(Manual::Disable),
        Just(Manual::MetricsOnly),
        Just(Manual::Reset)
    ];
    let op = prop_oneof![
        10 => Just(Op::Acquire),
        10 => (any::<usize>(), outcome, prop::option::of(0u64..120)).prop_map(|(i, o, d)| Op::Record(i, o, d)),
        1 => manual.prop_map(Op::Manual),
        // many small steps, some within a bucket, some across buckets
        6 => (0u64..150).prop_map(Op::Advance),
        // jumps longer than the whole window
        1 => (1_000u64..4_000).prop_map(Op::Advance),
    ];
    prop::collection::vec(op, 1..200)
}

fn check(
    step: usize,
    op: &Op,
    b: &CircuitBreaker,
    m: &Model,
    now: u64,
) -> Result<(), TestCaseError> {
    let got = b.snapshot(now);
    let want = m.metrics(now);
    prop_assert_eq!(got, want, "metrics differ after step {} ({:?}) at t={}", step, op, now);
    prop_assert_eq!(b.state(now), m.effective_state(now), "state(now) differs after step {}", step);
    Ok(())
}

proptest! {
    // PROPTEST_CASES overrides (miri runs a handful; see the Makefile).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_matches_sequential_model(p in params(), ops in ops()) {
        let b = CircuitBreaker::new(p.config());
        let mut m = Model::new(p.clone());
        let mut now = 1u64;
        let mut pool: Vec<(Permit, MPermit)> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Acquire => {
                    let got = b.try_acquire(now);
                    let (want, want_t) = m.acquire(now);
                    match (got, want) {
                        (Ok(permit), Ok(mp)) => {
                            prop_assert_eq!(permit.kind(), mp.kind);
                            prop_assert_eq!(permit.generation(), mp.generation);
                            prop_assert_eq!(permit.transition(), want_t);
                            pool.push((permit, mp));
                        }
                        (Err(r), Err(state)) => {
                            prop_assert_eq!(r.state, state);
                            prop_assert_eq!(r.transition, want_t);
                        }
                        (g, w) => prop_assert!(false, "acquire differs at step {}: {:?} vs {:?}", step, g, w),
                    }
                }
                Op::Record(i, outcome, dur) => {
                    if pool.is_empty() {
                        continue;
                    }
                    let (permit, mp) = pool.swap_remove(i % pool.len());
                    let got = match dur {
                        Some(d) => b.record_timed(permit, *outcome, *d, now),
                        None => b.record(permit, *outcome, now),
                    };
                    let want = m.record(mp, *outcome, *dur, now);
                    prop_assert_eq!(got, want, "record transition differs at step {}", step);
                }
                Op::Manual(op) => {
                    let got = match op {
                        Manual::Trip => b.trip(now),
                        Manual::ForceOpen => b.force_open(now),
                        Manual::Disable => b.disable(now),
                        Manual::MetricsOnly => b.metrics_only(now),
                        Manual::Reset => b.reset(now),
                    };
                    prop_assert_eq!(got, m.manual(*op, now), "manual {:?} differs at step {}", op, step);
                }
                Op::Advance(thousandths) => {
                    now += p.window * thousandths / 1_000;
                }
            }
            check(step, op, &b, &m, now)?;
        }
    }
}
