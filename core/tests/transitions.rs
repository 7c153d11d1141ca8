//! One test per transition, per config error, and per edge the semantics promise.

use core::mem::MaybeUninit;
use core::time::Duration;

use ringbreaker::{
    Breaker, CallError, CircuitBreaker, Config, ConfigError, Outcome, PermitKind, PlaceError,
    Reason, State, StaticBreaker,
};

const S: u64 = 1_000_000_000;

/// 10 s window in 10 buckets, trips at 50 % of >= 4 calls, open 5 s, 1 trial.
fn cfg() -> ringbreaker::ConfigBuilder {
    Config::builder().minimum_calls(4).open_ns(5 * S)
}

fn fail_n(b: &Breaker, n: u64, at: u64) -> Option<ringbreaker::Transition> {
    let mut last = None;
    for i in 0..n {
        let p = b.try_acquire(at + i).expect("permitted");
        last = b.record(p, Outcome::Failure, at + i).or(last);
    }
    last
}

fn succeed_n(b: &Breaker, n: u64, at: u64) {
    for i in 0..n {
        let p = b.try_acquire(at + i).expect("permitted");
        assert_eq!(b.record(p, Outcome::Success, at + i), None, "a success never trips");
    }
}

#[test]
fn closed_to_open_on_failure_rate() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    succeed_n(&b, 2, 0);
    assert_eq!(fail_n(&b, 1, 10), None, "3 calls < minimum 4");
    let t = fail_n(&b, 1, 20).expect("2 of 4 failed");
    assert_eq!(
        (t.from, t.to, t.reason, t.generation, t.at),
        (State::Closed, State::Open, Reason::FailureRate, 2, 20)
    );
    let m = b.snapshot(21);
    assert_eq!((m.calls, m.failures, m.failure_rate), (4, 2, 0.5));
}

#[test]
fn below_threshold_does_not_trip() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    succeed_n(&b, 3, 0);
    assert_eq!(fail_n(&b, 2, 10), None, "2 of 5 = 40 % < 50 %");
    assert_eq!(b.state(20), State::Closed);
}

#[test]
fn closed_to_open_on_slow_call_rate() {
    let b = CircuitBreaker::new(cfg().slow_call_ns(100).slow_call_rate(0.5).build().unwrap());
    for i in 0..2 {
        let p = b.try_acquire(i).unwrap();
        assert_eq!(b.record_timed(p, Outcome::Success, 10, i), None);
    }
    let p = b.try_acquire(5).unwrap();
    assert_eq!(b.record_timed(p, Outcome::Success, 150, 5), None, "3 calls < minimum 4");
    let p = b.try_acquire(6).unwrap();
    let t =
        b.record_timed(p, Outcome::Success, 100, 6).expect("2 of 4 slow; at the threshold is slow");
    assert_eq!(t.reason, Reason::SlowCallRate);
    assert_eq!(b.snapshot(7).slow_calls, 2);
}

#[test]
fn closed_to_open_on_consecutive_failures() {
    let b = CircuitBreaker::new(cfg().minimum_calls(1000).consecutive_failures(3).build().unwrap());
    assert_eq!(fail_n(&b, 2, 0), None);
    succeed_n(&b, 1, 5); // breaks the streak
    assert_eq!(fail_n(&b, 2, 10), None);
    let t = fail_n(&b, 1, 20).expect("third in a row");
    assert_eq!(t.reason, Reason::ConsecutiveFailures);
}

#[test]
fn ignored_is_not_a_call() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    for i in 0..10 {
        let p = b.try_acquire(i).unwrap();
        assert_eq!(b.record(p, Outcome::Ignored, i), None);
    }
    assert_eq!(b.snapshot(10).calls, 0);
}

#[test]
fn open_rejects_with_retry_after_then_half_opens() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    fail_n(&b, 4, 0).expect("trips at t=3");
    let r = b.try_acquire(S).unwrap_err();
    assert_eq!((r.state, r.retry_after_ns), (State::Open, Some(5 * S + 3 - S)));
    assert_eq!(b.state(5 * S + 2), State::Open);
    assert_eq!(b.state(5 * S + 3), State::HalfOpen, "state(now) reports the lazy move");
    let p = b.try_acquire(5 * S + 3).expect("first caller after the open duration");
    assert_eq!(p.kind(), PermitKind::Trial);
    let t = p.transition().unwrap();
    assert_eq!((t.from, t.to, t.reason), (State::Open, State::HalfOpen, Reason::OpenElapsed));
    assert_eq!(b.snapshot(5 * S + 3).rejected, 1);
}

#[test]
fn half_open_admits_only_its_permits() {
    let b = CircuitBreaker::new(cfg().half_open_permits(2).build().unwrap());
    fail_n(&b, 4, 0).unwrap();
    let _a = b.try_acquire(6 * S).unwrap();
    let _b = b.try_acquire(6 * S).unwrap();
    let r = b.try_acquire(6 * S).unwrap_err();
    assert_eq!(r.state, State::HalfOpen);
}

#[test]
fn half_open_to_closed_after_all_trials_succeed_with_fresh_window() {
    let b = CircuitBreaker::new(cfg().half_open_permits(2).build().unwrap());
    fail_n(&b, 4, 0).unwrap();
    let a = b.try_acquire(6 * S).unwrap();
    let c = b.try_acquire(6 * S).unwrap();
    assert_eq!(b.record(a, Outcome::Success, 6 * S + 1), None);
    let t = b.record(c, Outcome::Success, 6 * S + 2).unwrap();
    assert_eq!((t.from, t.to, t.reason), (State::HalfOpen, State::Closed, Reason::TrialsSucceeded));
    let m = b.snapshot(6 * S + 3);
    assert_eq!(
        (m.state, m.calls),
        (State::Closed, 0),
        "fresh window, though the failures are < 10 s old"
    );
}

#[test]
fn half_open_to_open_on_trial_failure_with_backoff_capped() {
    let b = CircuitBreaker::new(cfg().backoff_multiplier(2.0).max_open_ns(15 * S).build().unwrap());
    fail_n(&b, 4, 0).unwrap();
    let mut now = 5 * S + 3;
    for expected in [10 * S, 15 * S, 15 * S] {
        let p = b.try_acquire(now).unwrap();
        let t = b.record(p, Outcome::Failure, now).unwrap();
        assert_eq!((t.to, t.reason), (State::Open, Reason::TrialFailed));
        assert_eq!(b.snapshot(now).open_ns, expected);
        assert!(b.try_acquire(now + expected - 1).is_err());
        now += expected;
    }
    // closing resets the open duration
    let p = b.try_acquire(now).unwrap();
    b.record(p, Outcome::Success, now).unwrap();
    assert_eq!(b.snapshot(now).open_ns, 5 * S);
}

#[test]
fn slow_trial_counts_as_failed() {
    let b = CircuitBreaker::new(cfg().slow_call_ns(100).build().unwrap());
    fail_n(&b, 4, 0).unwrap();
    let p = b.try_acquire(6 * S).unwrap();
    let t = b.record_timed(p, Outcome::Success, 500, 6 * S).unwrap();
    assert_eq!(t.reason, Reason::TrialFailed);
}

#[test]
fn ignored_trial_hands_its_permit_back() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    fail_n(&b, 4, 0).unwrap();
    let p = b.try_acquire(6 * S).unwrap();
    assert!(b.try_acquire(6 * S).is_err());
    assert_eq!(b.record(p, Outcome::Ignored, 6 * S), None);
    assert!(b.try_acquire(6 * S).is_ok(), "the permit is available again");
}

#[test]
fn unreported_trial_lapses_and_reopens() {
    let b = CircuitBreaker::new(cfg().half_open_timeout(Duration::from_secs(2)).build().unwrap());
    fail_n(&b, 4, 0).unwrap();
    let lost = b.try_acquire(6 * S).unwrap();
    assert_eq!(b.try_acquire(8 * S - 1).unwrap_err().transition, None);
    let r = b.try_acquire(8 * S).unwrap_err();
    let t = r.transition.expect("the lapsed trial re-opens the breaker");
    assert_eq!((t.from, t.to, t.reason), (State::HalfOpen, State::Open, Reason::HalfOpenTimeout));
    assert_eq!(r.retry_after_ns, Some(5 * S));
    // the lost trial reporting late is stale and changes nothing
    assert_eq!(b.record(lost, Outcome::Success, 8 * S + 1), None);
    let m = b.snapshot(8 * S + 1);
    assert_eq!((m.state, m.stale), (State::Open, 1));
    // and the breaker is not wedged
    assert!(b.try_acquire(13 * S).is_ok());
}

#[test]
fn stale_outcome_changes_nothing() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    let old = b.try_acquire(0).unwrap();
    b.reset(1).unwrap();
    assert_eq!(b.record(old, Outcome::Failure, 2), None);
    let m = b.snapshot(2);
    assert_eq!((m.calls, m.stale, m.generation), (0, 1, 2));
}

#[test]
fn manual_trip_from_closed_and_noop_when_open() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    let t = b.trip(7).unwrap();
    assert_eq!((t.from, t.to, t.reason), (State::Closed, State::Open, Reason::Trip));
    assert_eq!(b.trip(8), None);
    assert!(b.try_acquire(5 * S + 7).is_ok(), "a manual trip half-opens like any trip");
}

#[test]
fn forced_open_rejects_until_reset() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    let t = b.force_open(1).unwrap();
    assert_eq!((t.to, t.reason), (State::ForcedOpen, Reason::ForceOpen));
    assert_eq!(b.force_open(2), None);
    assert_eq!(b.trip(2), None, "trip does not override a forced open");
    let r = b.try_acquire(100 * S).unwrap_err();
    assert_eq!((r.state, r.retry_after_ns), (State::ForcedOpen, None));
    let t = b.reset(3).unwrap();
    assert_eq!((t.from, t.to, t.reason), (State::ForcedOpen, State::Closed, Reason::Reset));
    assert!(b.try_acquire(4).is_ok());
}

#[test]
fn disabled_permits_all_and_records_nothing() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    let t = b.disable(1).unwrap();
    assert_eq!((t.to, t.reason), (State::Disabled, Reason::Disable));
    assert_eq!(b.disable(1), None);
    for i in 0..100 {
        let p = b.try_acquire(i).unwrap();
        assert_eq!(p.kind(), PermitKind::Passthrough);
        assert_eq!(b.record(p, Outcome::Failure, i), None);
    }
    let m = b.snapshot(100);
    assert_eq!((m.state, m.calls, m.stale), (State::Disabled, 0, 0));
}

#[test]
fn metrics_only_records_but_never_trips() {
    let b = CircuitBreaker::new(cfg().consecutive_failures(2).build().unwrap());
    let t = b.metrics_only(1).unwrap();
    assert_eq!((t.to, t.reason), (State::MetricsOnly, Reason::MetricsOnly));
    assert_eq!(b.metrics_only(1), None);
    assert_eq!(fail_n(&b, 50, 2), None);
    let m = b.snapshot(100);
    assert_eq!((m.state, m.failures, m.failure_rate), (State::MetricsOnly, 50, 1.0));
    b.reset(101).unwrap();
    assert_eq!(b.snapshot(102).calls, 0, "reset starts a fresh window");
}

#[test]
fn reset_of_a_closed_breaker_clears_its_window() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    succeed_n(&b, 3, 0);
    let t = b.reset(5).unwrap();
    assert_eq!((t.from, t.to), (State::Closed, State::Closed));
    assert_eq!(b.snapshot(6).calls, 0);
}

#[test]
fn window_expires_old_buckets() {
    let b = CircuitBreaker::new(cfg().minimum_calls(100).build().unwrap());
    fail_n(&b, 3, 0); // bucket [0, 1 s)
    fail_n(&b, 2, 9 * S); // bucket [9 s, 10 s)
    assert_eq!(b.snapshot(9 * S + 5).failures, 5);
    assert_eq!(b.snapshot(10 * S).failures, 2, "the first bucket left the window at 10 s");
    assert_eq!(b.snapshot(19 * S).failures, 0);
    assert_eq!(b.snapshot(1_000 * S).failures, 0);
}

#[test]
fn time_going_backwards_never_panics_or_corrupts() {
    let b = CircuitBreaker::new(cfg().minimum_calls(100).build().unwrap());
    fail_n(&b, 3, 20 * S); // period 20, bucket 0
    // a thread whose clock is a whole window behind, into a bucket that has moved on to
    // period 20: counted once, in that later period
    let p = b.try_acquire(10 * S).unwrap();
    b.record(p, Outcome::Failure, 10 * S);
    assert_eq!(b.snapshot(20 * S).failures, 4);
    // into a bucket that has not moved: counted in its own period, outside the current window
    let p = b.try_acquire(3 * S).unwrap();
    b.record(p, Outcome::Failure, 3 * S);
    assert_eq!(b.snapshot(20 * S).failures, 4);
    assert_eq!(b.snapshot(3 * S).failures, 1);
    // a snapshot with a clock far behind the records sees none of them, without wrapping
    assert_eq!(b.snapshot(0).failures, 0);
    assert_eq!(b.snapshot(u64::MAX).failures, 0);
    // open durations measured with a clock that went backwards never elapse early
    b.trip(50 * S).unwrap();
    assert!(b.try_acquire(10 * S).is_err());
    assert_eq!(b.snapshot(10 * S).time_until_half_open_ns, Some(45 * S));
    assert!(b.try_acquire(55 * S).is_ok());
    // time at the end of the range saturates rather than wrapping
    b.trip(u64::MAX - 1).unwrap();
    assert_eq!(b.try_acquire(u64::MAX - 1).unwrap_err().retry_after_ns, Some(1));
    assert!(b.try_acquire(u64::MAX).is_ok(), "the deadline saturates at u64::MAX");
}

#[test]
fn foreign_permit_is_rejected_and_counts_nothing() {
    let a = CircuitBreaker::default();
    let b = CircuitBreaker::default();
    let p = a.try_acquire(0).unwrap();
    assert_eq!(
        b.try_record(p, Outcome::Failure, None, 0),
        Err(ringbreaker::RecordError::ForeignPermit)
    );
    assert_eq!(b.snapshot(0).calls, 0);
    let p = a.try_acquire(0).unwrap();
    assert_eq!(b.record(p, Outcome::Failure, 0), None);
    assert_eq!((b.snapshot(0).calls, b.snapshot(0).stale), (0, 1));
}

#[test]
fn forged_permit_kind_is_stale() {
    let b = CircuitBreaker::default();
    let p = b.try_acquire(0).unwrap();
    let mut raw = p.to_raw();
    raw.kind = PermitKind::Trial as u8;
    let forged = ringbreaker::Permit::from_raw(raw).unwrap();
    assert_eq!(b.record(forged, Outcome::Failure, 0), None);
    assert_eq!(b.snapshot(0).stale, 1);
    raw.kind = 9;
    assert_eq!(ringbreaker::Permit::from_raw(raw), None);
}

#[test]
fn every_config_error_names_its_field() {
    let b = Config::builder;
    let cases: Vec<(Result<Config, ConfigError>, &str)> = vec![
        (b().window_ns(0).build(), "window_ns"),
        (b().buckets(0).build(), "buckets"),
        (b().buckets(ringbreaker::MAX_BUCKETS + 1).window_ns(4097 * 1000).build(), "buckets"),
        (b().window_ns(10).buckets(3).build(), "window_ns"),
        (b().failure_rate(f64::NAN).build(), "failure_rate"),
        (b().failure_rate(1.01).build(), "failure_rate"),
        (b().failure_rate(-0.1).build(), "failure_rate"),
        (b().slow_call_rate(f64::NAN).build(), "slow_call_rate"),
        (b().slow_call_rate(2.0).build(), "slow_call_rate"),
        (b().slow_call_ns(0).build(), "slow_call_ns"),
        (b().half_open_permits(0).build(), "half_open_permits"),
        (
            b().half_open_permits(ringbreaker::MAX_HALF_OPEN_PERMITS + 1).build(),
            "half_open_permits",
        ),
        (b().half_open_timeout_ns(0).build(), "half_open_timeout_ns"),
        (b().max_open_ns(1).build(), "max_open_ns"),
        (b().backoff_multiplier(0.5).build(), "backoff_multiplier"),
        (b().backoff_multiplier(f64::NAN).build(), "backoff_multiplier"),
        (b().backoff_multiplier(f64::INFINITY).build(), "backoff_multiplier"),
        (b().window(Duration::MAX).build(), "window_ns"),
        (b().open(Duration::MAX).build(), "open_ns"),
        (b().max_open(Duration::MAX).build(), "max_open_ns"),
        (b().slow_call(Duration::MAX).build(), "slow_call_ns"),
        (b().half_open_timeout(Duration::MAX).build(), "half_open_timeout_ns"),
        (StaticBreaker::<3>::new(Config::default()).map(|_| Config::default()), "buckets"),
    ];
    for (i, (result, field)) in cases.into_iter().enumerate() {
        let err = result.expect_err(&format!("case {i} should be rejected"));
        assert_eq!(err.field(), field, "case {i}: {err}");
        assert!(err.to_string().contains(field), "case {i}: message names the field: {err}");
    }
}

#[test]
fn defaults_follow_common_practice() {
    let c = Config::default();
    assert_eq!(
        (
            c.window_ns(),
            c.buckets(),
            c.failure_rate(),
            c.minimum_calls(),
            c.open_ns(),
            c.half_open_permits()
        ),
        (10 * S, 10, 0.5, 20, 5 * S, 1)
    );
    assert_eq!((c.slow_call_ns(), c.consecutive_failures()), (None, None));
}

#[test]
fn placement_checks_size_and_alignment() {
    let cfg = Config::builder().window_ns(4_000).buckets(4).minimum_calls(1).build().unwrap();
    let layout = Breaker::layout(4);
    let mut mem = vec![MaybeUninit::<u8>::uninit(); layout.size() + layout.align()];
    let off = mem.as_ptr().align_offset(layout.align());
    assert_eq!(
        Breaker::place(&mut mem[off..off + layout.size() - 1], cfg).unwrap_err(),
        PlaceError::TooSmall { need: layout.size() }
    );
    assert_eq!(
        Breaker::place(&mut mem[off + 1..], cfg).unwrap_err(),
        PlaceError::Misaligned { align: layout.align() }
    );
    let b = Breaker::place(&mut mem[off..], cfg).unwrap();
    let p = b.try_acquire(0).unwrap();
    assert_eq!(b.record(p, Outcome::Failure, 0).unwrap().to, State::Open);
}

#[test]
fn static_breaker_works() {
    static B: StaticBreaker<10> = match StaticBreaker::new(Config::DEFAULT) {
        Ok(b) => b,
        Err(_) => panic!(),
    };
    let p = B.try_acquire(0).unwrap();
    B.record(p, Outcome::Success, 0);
    assert_eq!(B.snapshot(0).successes, 1);
    assert_ne!(B.id(), 0);
}

#[test]
fn call_records_results_and_guard_records_failure_on_drop() {
    let b = CircuitBreaker::new(Config::builder().minimum_calls(1000).build().unwrap());
    assert_eq!(b.call(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(b.call(|| Err::<(), _>("x")), Err(CallError::Failed("x")));
    {
        let _guard = b.acquire().unwrap(); // dropped unrecorded: an early return
    }
    let r = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("boom") });
    }));
    assert!(r.is_err());
    let m = b.snapshot(ringbreaker::now_ns());
    assert_eq!((m.successes, m.failures), (1, 3));
    b.force_open(ringbreaker::now_ns());
    assert!(
        matches!(b.call(|| Ok::<_, ()>(())), Err(CallError::Rejected(r)) if r.state == State::ForcedOpen)
    );
}

#[test]
fn now_ns_is_monotonic() {
    let a = ringbreaker::now_ns();
    let b = ringbreaker::now_ns();
    assert!(b >= a);
}

#[test]
fn acquire_without_time_only_where_the_state_does_not_need_it() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    let p = b.try_acquire_without_time().expect("closed permits without the time");
    assert_eq!(p.kind(), PermitKind::Normal);
    assert_eq!(b.record(p, Outcome::Failure, 1), None);
    assert_eq!(b.snapshot(2).failures, 1, "its outcome counts like any permit's");

    b.metrics_only(3).unwrap();
    assert_eq!(b.try_acquire_without_time().map(|p| p.kind()), Some(PermitKind::Normal));
    b.disable(4).unwrap();
    assert_eq!(b.try_acquire_without_time().map(|p| p.kind()), Some(PermitKind::Passthrough));

    // Open, ForcedOpen and HalfOpen need the time: None, and nothing is counted as rejected.
    b.trip(5).unwrap();
    assert!(b.try_acquire_without_time().is_none());
    let trial = b.try_acquire(5 + 5 * S).expect("the open duration has passed");
    assert_eq!(trial.kind(), PermitKind::Trial);
    assert!(b.try_acquire_without_time().is_none(), "half-open");
    b.force_open(6 + 5 * S).unwrap();
    assert!(b.try_acquire_without_time().is_none());
    assert_eq!(b.snapshot(7 + 5 * S).rejected, 0);
}

#[test]
fn guard_without_slow_detection_records_at_the_end() {
    let b = CircuitBreaker::new(cfg().build().unwrap());
    assert_eq!(b.call(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(b.call(|| Err::<u32, _>(())), Err(CallError::Failed(())));
    let m = b.snapshot(ringbreaker::now_ns());
    assert_eq!((m.successes, m.failures, m.slow_calls), (1, 1, 0));
    b.trip(ringbreaker::now_ns()).unwrap();
    assert!(matches!(b.call(|| Ok::<_, ()>(1)), Err(CallError::Rejected(_))));
}

#[test]
fn call_times_plain_records_with_the_coarse_clock_and_counts_each_once() {
    // Default buckets (1 s) are many coarse ticks wide: call() stamps plain records with the
    // coarse clock, which never runs ahead of now_ns(), so every one is in the window at now_ns().
    let b = CircuitBreaker::new(Config::builder().minimum_calls(1_000_000).build().unwrap());
    assert!(
        b.config().bucket_ns() / ringbreaker::COARSE_BUCKETS_PER_TICK
            >= ringbreaker::coarse_resolution_ns()
    );
    let n: u32 = if cfg!(miri) { 100 } else { 10_000 };
    for i in 0..n {
        let r = if i % 4 == 0 { Err(i) } else { Ok(i) };
        let _ = b.call(|| r);
    }
    let m = b.snapshot(ringbreaker::now_ns());
    assert_eq!((m.successes, m.failures), (u64::from(n) * 3 / 4, u64::from(n) / 4));
    // A guard reports once: its outcome, and nothing more when it is dropped afterwards.
    let g = b.acquire().unwrap();
    assert_eq!(g.success(), None);
    assert_eq!(b.snapshot(ringbreaker::now_ns()).calls, u64::from(n) + 1);
}

#[cfg_attr(miri, ignore = "needs a real clock: miri's is virtual and has no coarse clock")]
#[test]
fn call_with_buckets_narrower_than_the_coarse_tick_uses_the_precise_clock() {
    // 1 µs buckets, a 10 µs window: a coarse timestamp (up to a tick, 1-4 ms, old) would put
    // the record thousands of buckets back, outside the window read right after the call. With
    // the precise clock it is inside unless the thread was preempted for 10 µs in between.
    let cfg =
        Config::builder().window_ns(10_000).buckets(10).minimum_calls(1_000_000).build().unwrap();
    assert!(
        cfg.bucket_ns() / ringbreaker::COARSE_BUCKETS_PER_TICK
            < ringbreaker::coarse_resolution_ns()
    );
    let mut seen = 0;
    for _ in 0..200 {
        let b = CircuitBreaker::new(cfg);
        assert_eq!(b.call(|| Ok::<_, ()>(())), Ok(()));
        seen += b.snapshot(ringbreaker::now_ns()).calls;
    }
    assert!(seen >= 100, "only {seen} of 200 calls were in the window right after them");
}

#[test]
fn coarse_clock_never_runs_ahead_of_now_ns() {
    for _ in 0..1_000 {
        let c = ringbreaker::now_ns_coarse();
        assert!(c <= ringbreaker::now_ns());
    }
}
