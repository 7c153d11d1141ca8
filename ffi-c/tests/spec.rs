//! The C ABI against the reference model: the same seeded sequences as the Rust API's
//! (2,000 by default, `SPEC_SEQUENCES` for more) and the long runs, driven through the
//! exported `rb_*` functions exactly as a C caller calls them — `rb_permit` structs recorded
//! by address (so a second record is the library's to refuse), copies for `RecordCopy`.
// Every unsafe block below calls an rb_* function with `self.b`/`self.other` (live, from
// rb_breaker_new) and pointers to locals or fields: the one safety argument, stated once.
#![allow(clippy::undocumented_unsafe_blocks)]

use core::ptr;

use ringbreaker_ffi::*;
use ringbreaker_spec::ops::{
    Action, Kind, Obs, Op, Outcome, Params, Reason, Refusal, Snap, State, Tr,
};
use ringbreaker_spec::seq::{self, Door};
use ringbreaker_spec::{FrontDoor, check_door, report, run, sequences};

struct CAbi {
    b: *mut rb_breaker,
    other: *mut rb_breaker,
    permits: Vec<(rb_permit, rb_permit)>, // (the caller's struct, a copy taken at issue)
}

impl Drop for CAbi {
    fn drop(&mut self) {
        // SAFETY: both came from rb_breaker_new and are freed once.
        unsafe {
            rb_breaker_free(self.b);
            rb_breaker_free(self.other);
        }
    }
}

fn state(s: rb_breaker_state) -> State {
    match s {
        rb_breaker_state::RB_STATE_CLOSED => State::Closed,
        rb_breaker_state::RB_STATE_OPEN => State::Open,
        rb_breaker_state::RB_STATE_HALF_OPEN => State::HalfOpen,
        rb_breaker_state::RB_STATE_FORCED_OPEN => State::ForcedOpen,
        rb_breaker_state::RB_STATE_DISABLED => State::Disabled,
        rb_breaker_state::RB_STATE_METRICS_ONLY => State::MetricsOnly,
    }
}

fn reason(r: rb_reason) -> Reason {
    use rb_reason::*;
    match r {
        RB_REASON_FAILURE_RATE => Reason::FailureRate,
        RB_REASON_SLOW_CALL_RATE => Reason::SlowCallRate,
        RB_REASON_CONSECUTIVE_FAILURES => Reason::ConsecutiveFailures,
        RB_REASON_OPEN_ELAPSED => Reason::OpenElapsed,
        RB_REASON_TRIALS_SUCCEEDED => Reason::TrialsSucceeded,
        RB_REASON_TRIAL_FAILED => Reason::TrialFailed,
        RB_REASON_HALF_OPEN_TIMEOUT => Reason::HalfOpenTimeout,
        RB_REASON_TRIP => Reason::Trip,
        RB_REASON_FORCE_OPEN => Reason::ForceOpen,
        RB_REASON_DISABLE => Reason::Disable,
        RB_REASON_METRICS_ONLY => Reason::MetricsOnly,
        RB_REASON_RESET => Reason::Reset,
    }
}

fn tr(t: &rb_transition) -> Option<Tr> {
    t.occurred.then(|| Tr {
        from: state(t.from),
        to: state(t.to),
        generation: t.generation,
        at: t.at_ns,
        reason: reason(t.reason),
    })
}

fn no_transition() -> rb_transition {
    rb_transition {
        occurred: true, // must be overwritten by every call that takes it
        from: rb_breaker_state::RB_STATE_OPEN,
        to: rb_breaker_state::RB_STATE_OPEN,
        reason: rb_reason::RB_REASON_TRIP,
        generation: u32::MAX,
        at_ns: u64::MAX,
    }
}

fn outcome(o: Outcome) -> u32 {
    match o {
        Outcome::Success => rb_outcome::RB_SUCCESS as u32,
        Outcome::Failure => rb_outcome::RB_FAILURE as u32,
        Outcome::Ignored => rb_outcome::RB_IGNORED as u32,
    }
}

impl CAbi {
    fn record(&self, permit: *mut rb_permit, o: Outcome, duration: Option<u64>, now: u64) -> Obs {
        let mut t = no_transition();
        // SAFETY: live breaker, valid pointers.
        let st =
            unsafe { rb_record(self.b, permit, outcome(o), duration.unwrap_or(0), now, &mut t) };
        match st {
            rb_status::RB_OK => Obs::Recorded { transition: tr(&t) },
            rb_status::RB_ALREADY_RECORDED => Obs::Refused { error: Refusal::AlreadyRecorded },
            rb_status::RB_FOREIGN_PERMIT => Obs::Refused { error: Refusal::ForeignPermit },
            other => panic!("rb_record returned {other:?}"),
        }
    }

    fn manual(
        &self,
        f: unsafe extern "C" fn(*mut rb_breaker, u64, *mut rb_transition) -> rb_status,
        now: u64,
    ) -> Option<Tr> {
        let mut t = no_transition();
        // SAFETY: live breaker, valid out-pointer.
        assert_eq!(unsafe { f(self.b, now, &mut t) }, rb_status::RB_OK);
        tr(&t)
    }
}

impl FrontDoor for CAbi {
    fn new(p: &Params) -> Self {
        let mut c = rb_config_default();
        c.window_ns = p.window_ns;
        c.buckets = p.buckets;
        c.minimum_calls = p.minimum_calls;
        c.failure_rate = p.failure_rate;
        c.slow_call_rate = p.slow_call_rate;
        c.slow_call_ns = p.slow_call_ns;
        c.consecutive_failures = p.consecutive_failures;
        c.half_open_permits = p.half_open_permits;
        c.open_ns = p.open_ns;
        c.max_open_ns = p.max_open_ns.unwrap_or(0);
        c.backoff_multiplier = p.backoff_multiplier;
        c.half_open_timeout_ns = p.half_open_timeout_ns.unwrap_or(0);
        let (mut b, mut other) = (ptr::null_mut(), ptr::null_mut());
        let d = rb_config_default();
        // SAFETY: valid pointers.
        unsafe {
            assert_eq!(rb_breaker_new(&c, &mut b), rb_status::RB_OK, "config {p:?}");
            assert_eq!(rb_breaker_new(&d, &mut other), rb_status::RB_OK);
        }
        CAbi { b, other, permits: Vec::new() }
    }

    fn apply(&mut self, op: &Op) -> Obs {
        // SAFETY (every block below): `self.b` is live; pointers are to locals or fields.
        match *op {
            Op::Acquire { now } => {
                let mut p = rb_permit { breaker_id: 0, generation: 0, kind: 99, slot: 0 };
                let mut t = no_transition();
                match unsafe { rb_try_acquire(self.b, now, &mut p, &mut t) } {
                    rb_status::RB_OK => {
                        self.permits.push((p, p));
                        let kind = match p.kind {
                            0 => Kind::Normal,
                            1 => Kind::Trial,
                            2 => Kind::Passthrough,
                            k => panic!("permit kind {k}"),
                        };
                        Obs::Permit {
                            kind,
                            generation: p.generation,
                            slot: p.slot as u16,
                            transition: tr(&t),
                        }
                    }
                    rb_status::RB_REJECTED => {
                        // C learns the state and the retry time from rb_state / rb_retry_after
                        // at the same instant; they must match what Rust's Rejected carries.
                        let mut st = rb_breaker_state::RB_STATE_CLOSED;
                        let mut ns = u64::MAX;
                        assert_eq!(unsafe { rb_state(self.b, now, &mut st) }, rb_status::RB_OK);
                        let retry = match unsafe { rb_retry_after(self.b, now, &mut ns) } {
                            rb_status::RB_OK => Some(ns),
                            rb_status::RB_NO_RETRY_AFTER => None,
                            other => panic!("rb_retry_after returned {other:?}"),
                        };
                        // A rejection that made a transition (a lapsed lease) was by the state
                        // it entered; otherwise the state at `now` is the one that rejected.
                        let st = if t.occurred { t.to } else { st };
                        Obs::Rejected {
                            state: state(st),
                            retry_after_ns: retry,
                            transition: tr(&t),
                        }
                    }
                    other => panic!("rb_try_acquire returned {other:?}"),
                }
            }
            Op::Record { permit, outcome: o, duration_ns, now } => {
                if permit >= self.permits.len() {
                    return Obs::Refused { error: Refusal::NoSuchPermit };
                }
                let p: *mut rb_permit = &mut self.permits[permit].0;
                self.record(p, o, duration_ns, now)
            }
            Op::RecordCopy { permit, outcome: o, now } => {
                let Some(&(_, mut copy)) = self.permits.get(permit) else {
                    return Obs::Refused { error: Refusal::NoSuchPermit };
                };
                self.record(&mut copy, o, None, now)
            }
            Op::RecordForeign { now } => {
                let mut p = rb_permit { breaker_id: 0, generation: 0, kind: 0, slot: 0 };
                assert_eq!(
                    unsafe { rb_try_acquire(self.other, now, &mut p, ptr::null_mut()) },
                    rb_status::RB_OK
                );
                self.record(&mut p, Outcome::Failure, None, now)
            }
            Op::Manual { action, now } => {
                let f = match action {
                    Action::Trip => rb_trip,
                    Action::ForceOpen => rb_force_open,
                    Action::Disable => rb_disable,
                    Action::MetricsOnly => rb_metrics_only,
                    Action::Reset => rb_reset,
                };
                Obs::Manual { transition: self.manual(f, now) }
            }
            Op::Cycle { pairs, now } => {
                let mut last = None;
                for _ in 0..pairs {
                    last = self.manual(rb_disable, now).or(last);
                    last = self.manual(rb_reset, now).or(last);
                }
                Obs::Manual { transition: last }
            }
            Op::SetGeneration { generation, now } => {
                let mut t = no_transition();
                assert_eq!(
                    unsafe { rb_debug_reset_to_generation(self.b, generation, now, &mut t) },
                    rb_status::RB_OK
                );
                Obs::Manual { transition: tr(&t) }
            }
            Op::Snapshot { now } => {
                let mut m = core::mem::MaybeUninit::<rb_metrics>::uninit();
                assert_eq!(unsafe { rb_snapshot(self.b, now, m.as_mut_ptr()) }, rb_status::RB_OK);
                // SAFETY: written on RB_OK.
                let m = unsafe { m.assume_init() };
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
                    time_until_half_open_ns: open_field(&m),
                    open_ns: m.open_ns,
                })
            }
            Op::State { now } => {
                let mut st = rb_breaker_state::RB_STATE_CLOSED;
                assert_eq!(unsafe { rb_state(self.b, now, &mut st) }, rb_status::RB_OK);
                Obs::State { state: state(st) }
            }
            Op::RetryAfter { now } => {
                let mut ns = u64::MAX;
                let retry = match unsafe { rb_retry_after(self.b, now, &mut ns) } {
                    rb_status::RB_OK => Some(ns),
                    rb_status::RB_NO_RETRY_AFTER => None,
                    other => panic!("rb_retry_after returned {other:?}"),
                };
                Obs::RetryAfter { retry_after_ns: retry }
            }
        }
    }
}

/// C has no optional: `time_until_half_open_ns` is Some while the stored state is Open, which
/// C reports through `has_time_until_half_open`.
fn open_field(m: &rb_metrics) -> Option<u64> {
    m.has_time_until_half_open.then_some(m.time_until_half_open_ns)
}

#[test]
fn c_abi_matches_the_model() {
    check_door::<CAbi>("C ABI", 0, sequences(2000), Door::Native);
}

#[test]
fn c_abi_long_runs_match_the_model() {
    for (i, (p, ops)) in seq::long_runs().into_iter().enumerate() {
        if run::<CAbi>(&p, &ops).is_some() {
            panic!("{}", report::<CAbi>("C ABI (long run)", i as u64, &p, &ops));
        }
    }
}
