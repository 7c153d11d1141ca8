//! The Rust API as a front door.

use ringbreaker::{
    CircuitBreaker, Config, Outcome as RbOutcome, Permit, PermitKind, Reason as RbReason,
    RecordError, State as RbState, Transition,
};

use crate::FrontDoor;
use crate::ops::{Action, Kind, Obs, Op, Outcome, Params, Reason, Refusal, Snap, State, Tr};

/// The core's `Config` for `p`.
pub fn config(p: &Params) -> Config {
    let mut b = Config::builder()
        .window_ns(p.window_ns)
        .buckets(p.buckets)
        .minimum_calls(p.minimum_calls)
        .failure_rate(p.failure_rate)
        .slow_call_rate(p.slow_call_rate)
        .consecutive_failures(p.consecutive_failures)
        .half_open_permits(p.half_open_permits)
        .open_ns(p.open_ns)
        .backoff_multiplier(p.backoff_multiplier);
    if p.slow_call_ns != 0 {
        b = b.slow_call_ns(p.slow_call_ns);
    }
    if let Some(ns) = p.max_open_ns {
        b = b.max_open_ns(ns);
    }
    if let Some(ns) = p.half_open_timeout_ns {
        b = b.half_open_timeout_ns(ns);
    }
    b.build().expect("generated parameters are valid")
}

/// The spec's name for a core state.
pub fn state(s: RbState) -> State {
    match s {
        RbState::Closed => State::Closed,
        RbState::Open => State::Open,
        RbState::HalfOpen => State::HalfOpen,
        RbState::ForcedOpen => State::ForcedOpen,
        RbState::Disabled => State::Disabled,
        RbState::MetricsOnly => State::MetricsOnly,
    }
}

/// The spec's name for a core reason.
pub fn reason(r: RbReason) -> Reason {
    match r {
        RbReason::FailureRate => Reason::FailureRate,
        RbReason::SlowCallRate => Reason::SlowCallRate,
        RbReason::ConsecutiveFailures => Reason::ConsecutiveFailures,
        RbReason::OpenElapsed => Reason::OpenElapsed,
        RbReason::TrialsSucceeded => Reason::TrialsSucceeded,
        RbReason::TrialFailed => Reason::TrialFailed,
        RbReason::HalfOpenTimeout => Reason::HalfOpenTimeout,
        RbReason::Trip => Reason::Trip,
        RbReason::ForceOpen => Reason::ForceOpen,
        RbReason::Disable => Reason::Disable,
        RbReason::MetricsOnly => Reason::MetricsOnly,
        RbReason::Reset => Reason::Reset,
    }
}

fn tr(t: Option<Transition>) -> Option<Tr> {
    t.map(|t| Tr {
        from: state(t.from),
        to: state(t.to),
        generation: t.generation,
        at: t.at,
        reason: reason(t.reason),
    })
}

fn outcome(o: Outcome) -> RbOutcome {
    match o {
        Outcome::Success => RbOutcome::Success,
        Outcome::Failure => RbOutcome::Failure,
        Outcome::Ignored => RbOutcome::Ignored,
    }
}

/// A `CircuitBreaker` driven through its public Rust API. Permits are held as values and
/// moved into `try_record`, so "record twice" is refused by ownership, as in user code;
/// `RecordCopy` rebuilds a permit from its `RawPermit` to reach the core's own check.
pub struct RustApi {
    b: CircuitBreaker,
    other: CircuitBreaker,
    permits: Vec<(Option<Permit>, ringbreaker::RawPermit)>,
}

impl FrontDoor for RustApi {
    fn new(p: &Params) -> Self {
        RustApi {
            b: CircuitBreaker::new(config(p)),
            other: CircuitBreaker::default(),
            permits: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) -> Obs {
        let b = &self.b;
        match *op {
            Op::Acquire { now } => match b.try_acquire(now) {
                Ok(p) => {
                    let obs = Obs::Permit {
                        kind: match p.kind() {
                            PermitKind::Normal => Kind::Normal,
                            PermitKind::Trial => Kind::Trial,
                            PermitKind::Passthrough => Kind::Passthrough,
                        },
                        generation: p.generation(),
                        slot: p.slot(),
                        transition: tr(p.transition()),
                    };
                    let raw = p.to_raw();
                    self.permits.push((Some(p), raw));
                    obs
                }
                Err(r) => Obs::Rejected {
                    state: state(r.state),
                    retry_after_ns: r.retry_after_ns,
                    transition: tr(r.transition),
                },
            },
            Op::Record { permit, outcome: o, duration_ns, now } => {
                let Some((held, _)) = self.permits.get_mut(permit) else {
                    return Obs::Refused { error: Refusal::NoSuchPermit };
                };
                let Some(p) = held.take() else {
                    return Obs::Refused { error: Refusal::AlreadyRecorded };
                };
                recorded(b.try_record(p, outcome(o), duration_ns, now))
            }
            Op::RecordCopy { permit, outcome: o, now } => {
                let Some(&(_, raw)) = self.permits.get(permit) else {
                    return Obs::Refused { error: Refusal::NoSuchPermit };
                };
                let p = Permit::from_raw(raw).expect("a permit's own raw form");
                recorded(b.try_record(p, outcome(o), None, now))
            }
            Op::RecordForeign { now } => {
                let p = self.other.try_acquire(now).expect("a fresh breaker permits");
                recorded(b.try_record(p, RbOutcome::Failure, None, now))
            }
            Op::Manual { action, now } => Obs::Manual { transition: tr(manual(b, action, now)) },
            Op::Cycle { pairs, now } => {
                let mut last = None;
                for _ in 0..pairs {
                    last = b.disable(now).or(last);
                    last = b.reset(now).or(last);
                }
                Obs::Manual { transition: tr(last) }
            }
            Op::SetGeneration { generation, now } => {
                Obs::Manual { transition: tr(Some(b.debug_reset_to_generation(generation, now))) }
            }
            Op::Snapshot { now } => {
                let m = b.snapshot(now);
                Obs::Snapshot(Snap {
                    state: state(m.state),
                    generation: m.generation,
                    calls: m.calls,
                    successes: m.successes,
                    failures: m.failures,
                    slow_calls: m.slow_calls,
                    failure_rate: m.failure_rate,
                    slow_call_rate: m.slow_call_rate,
                    rejected: m.rejected,
                    stale: m.stale,
                    time_until_half_open_ns: m.time_until_half_open_ns,
                    open_ns: m.open_ns,
                })
            }
            Op::State { now } => Obs::State { state: state(b.state(now)) },
            Op::RetryAfter { now } => Obs::RetryAfter { retry_after_ns: b.retry_after(now) },
        }
    }
}

fn recorded(r: Result<Option<Transition>, RecordError>) -> Obs {
    match r {
        Ok(t) => Obs::Recorded { transition: tr(t) },
        Err(RecordError::AlreadyRecorded) => Obs::Refused { error: Refusal::AlreadyRecorded },
        Err(RecordError::ForeignPermit) => Obs::Refused { error: Refusal::ForeignPermit },
    }
}

fn manual(b: &CircuitBreaker, action: Action, now: u64) -> Option<Transition> {
    match action {
        Action::Trip => b.trip(now),
        Action::ForceOpen => b.force_open(now),
        Action::Disable => b.disable(now),
        Action::MetricsOnly => b.metrics_only(now),
        Action::Reset => b.reset(now),
    }
}
