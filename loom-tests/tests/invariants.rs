//! Loom models of the core's invariants, run against the real crate through its `sync` shim.
//! Each model uses 2–3 threads, a 2–3 bucket ring and explicit times chosen to force the
//! interleaving it is about. See README.md for the command and the explored interleavings.
#![cfg(ringbreaker_loom)]

extern crate alloc;

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::sync::Arc;
use loom::thread;
use ringbreaker::{CircuitBreaker, Config, ConfigBuilder, Outcome, Reason, State, Transition};

/// 3 buckets of 10 ns: periods 0,1,2 share buckets with 3,4,5.
fn base() -> ConfigBuilder {
    Config::builder().window_ns(30).buckets(3).minimum_calls(1_000).open_ns(100)
}

/// Run a loom model, counting the interleavings it explores.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    // Outside the model, so a plain Arc: it counts executions, it is not under test.
    let runs = alloc::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, Relaxed);
        f();
    });
    println!("{name}: {} interleavings explored", runs.load(Relaxed));
}

/// Transitions handed out across threads must form one chain: consecutive generations, each
/// starting where the previous one ended, ending in the breaker's current state (T1: every
/// transition was received by exactly one caller, none twice, none lost).
fn assert_chain(b: &CircuitBreaker, start_gen: u32, start: State, mut ts: Vec<Transition>) {
    ts.sort_by_key(|t| t.generation);
    let (mut generation, mut state) = (start_gen, start);
    for t in &ts {
        assert_eq!(t.generation, generation + 1, "transitions {ts:?}");
        assert_eq!(t.from, state, "transitions {ts:?}");
        (generation, state) = (t.generation, t.to);
    }
    let m = b.snapshot(0);
    assert_eq!((m.generation, m.state), (generation, state), "transitions {ts:?}");
}

fn spawn<T: Send + 'static>(
    b: &Arc<CircuitBreaker>,
    f: impl FnOnce(&CircuitBreaker) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let b = b.clone();
    thread::spawn(move || f(&b))
}

/// W1: two records racing to rotate an expired bucket, and a third in the same period, are
/// each counted exactly once; nothing of the expired period survives.
#[test]
fn w1_records_racing_a_rotation_are_counted_once() {
    model("w1", || {
        let b = Arc::new(CircuitBreaker::new(base().build().unwrap()));
        let p = b.try_acquire(5).unwrap();
        b.record(p, Outcome::Failure, 5); // period 0, bucket 0
        let hs = [Outcome::Success, Outcome::Success, Outcome::Failure].map(|o| {
            spawn(&b, move |b| {
                let p = b.try_acquire(35).unwrap(); // period 3, bucket 0: rotation
                b.record(p, o, 35)
            })
        });
        for h in hs {
            assert_eq!(h.join().unwrap(), None);
        }
        let m = b.snapshot(35);
        assert_eq!((m.successes, m.failures), (2, 1));
    });
}

/// W2: a snapshot racing a rotation never sees a count from a period older than the window.
#[test]
fn w2_snapshot_racing_a_rotation_sees_nothing_expired() {
    model("w2", || {
        let b = Arc::new(CircuitBreaker::new(base().build().unwrap()));
        for _ in 0..2 {
            let p = b.try_acquire(5).unwrap();
            b.record(p, Outcome::Failure, 5); // period 0: expired at t=35
        }
        let writer = spawn(&b, |b| {
            let p = b.try_acquire(35).unwrap();
            b.record(p, Outcome::Success, 35);
        });
        let reader = spawn(&b, |b| {
            for _ in 0..2 {
                let m = b.snapshot(35);
                assert_eq!(m.failures, 0, "expired failures seen: {m:?}");
                assert!(m.successes <= 1);
            }
        });
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(b.snapshot(35).successes, 1);
    });
}

/// W3: counters at their limit saturate under concurrent records and never spill into the
/// neighbouring fields.
#[test]
fn w3_counters_saturate_under_contention() {
    model("w3", || {
        let b = Arc::new(CircuitBreaker::new(base().build().unwrap()));
        let max = u64::from(u32::MAX);
        b.preload_counts(5, max - 1, 3, max - 1);
        let hs = [0, 1].map(|_| {
            spawn(&b, |b| {
                let p = b.try_acquire(5).unwrap();
                b.record(p, Outcome::Success, 5);
            })
        });
        for h in hs {
            h.join().unwrap();
        }
        let m = b.snapshot(5);
        assert_eq!((m.successes, m.failures, m.slow_calls), (max, 3, max - 1));
    });
}

/// T1: two failures racing to trip: exactly one thread receives the Transition.
#[test]
fn t1_racing_trips_have_one_winner() {
    model("t1", || {
        let b = Arc::new(CircuitBreaker::new(base().minimum_calls(1).build().unwrap()));
        let permits = [b.try_acquire(5).unwrap(), b.try_acquire(5).unwrap()];
        let hs = permits.map(|p| spawn(&b, move |b| b.record(p, Outcome::Failure, 5)));
        let ts: Vec<Transition> = hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(ts.len(), 1, "{ts:?}");
        assert_eq!(ts[0].reason, Reason::FailureRate);
        assert_chain(&b, 1, State::Closed, ts);
    });
}

/// T2 + T3: three acquirers arrive together after the open duration: at least one is admitted
/// (no wedge), never more than `half_open_permits`, and exactly one receives Open → HalfOpen.
#[test]
fn t2_t3_half_open_admits_at_least_one_and_at_most_its_permits() {
    model("t2_t3", || {
        let b = Arc::new(CircuitBreaker::new(base().half_open_permits(2).build().unwrap()));
        b.trip(0).unwrap();
        let hs = [0, 1, 2].map(|_| spawn(&b, |b| b.try_acquire(100).map(|p| p.transition())));
        let results: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        let admitted = results.iter().filter(|r| r.is_ok()).count();
        assert!((1..=2).contains(&admitted), "{results:?}");
        let ts: Vec<Transition> = results.into_iter().filter_map(|r| r.ok().flatten()).collect();
        assert_eq!(ts.len(), 1);
        assert_chain(&b, 2, State::Open, ts);
    });
}

/// T3, lapsed trial: a trial that never reports cannot wedge the breaker. Racing acquirers after
/// `half_open_timeout` re-open it exactly once, and it half-opens again afterwards.
#[test]
fn t3_unreported_trial_lapses_exactly_once() {
    model("t3_lapse", || {
        let b = Arc::new(CircuitBreaker::new(base().half_open_timeout_ns(50).build().unwrap()));
        b.trip(0).unwrap();
        let _lost = b.try_acquire(100).unwrap();
        let hs = [0, 1].map(|_| spawn(&b, |b| b.try_acquire(150).unwrap_err().transition));
        let ts: Vec<Transition> = hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(ts.len(), 1, "{ts:?}");
        assert_eq!(ts[0].reason, Reason::HalfOpenTimeout);
        assert_chain(&b, 3, State::HalfOpen, ts);
        assert!(b.try_acquire(250).is_ok(), "wedged after the lapse");
    });
}

/// T4: outcomes from an older generation racing a transition change neither the new state, nor
/// the new window, nor the new failure streak. Stale and fresh records hit the same counter
/// words, so a stale write into the new generation's words would show.
#[test]
fn t4_stale_outcomes_racing_a_reset_leave_the_new_generation_alone() {
    model("t4", || {
        let cfg = base().consecutive_failures(2).build().unwrap();
        let b = Arc::new(CircuitBreaker::new(cfg));
        let old = [b.try_acquire(5).unwrap(), b.try_acquire(5).unwrap()];
        let stale = spawn(&b, move |b| {
            let [s, f] = old;
            [b.record(s, Outcome::Success, 5), b.record(f, Outcome::Failure, 5)]
        });
        let t = b.reset(5).expect("reset always transitions");
        for o in [Outcome::Success, Outcome::Failure] {
            let p = b.try_acquire(5).unwrap();
            assert_eq!(
                b.record(p, o, 5),
                None,
                "one fresh failure must not complete a streak of 2"
            );
        }
        assert_eq!(stale.join().unwrap(), [None, None]);
        let m = b.snapshot(5);
        assert_eq!((m.successes, m.failures), (1, 1), "{m:?}");
        assert_chain(&b, 1, State::Closed, vec![t]);
    });
}

/// Manual operations racing a record and a trip: the final state and the chain of transitions
/// are ones some sequential order of the three calls would give.
#[test]
fn manual_operations_racing_records_linearize() {
    model("manual", || {
        let b = Arc::new(CircuitBreaker::new(base().minimum_calls(1).build().unwrap()));
        let p = b.try_acquire(5).unwrap();
        let rec = spawn(&b, move |b| b.record(p, Outcome::Failure, 5));
        let forced = spawn(&b, |b| b.force_open(6));
        let reset = b.reset(7);
        let mut ts: Vec<Transition> =
            [rec.join().unwrap(), forced.join().unwrap(), reset].into_iter().flatten().collect();
        let last = b.snapshot(8).state;
        assert!(matches!(last, State::Closed | State::ForcedOpen), "{last:?}");
        ts.sort_by_key(|t| t.generation);
        assert_chain(&b, 1, State::Closed, ts);
    });
}

/// T5 (leases): a trial issued while another caller decides whether the half-open period has
/// lapsed is never lapsed at once. One trial went out at 100 on entry; the second goes out at
/// 140 or 155 (whichever caller wins it). With leases counted from entry, the caller at 155
/// would re-open the breaker (155 ≥ 100 + 50); each lease runs from its own issue, so no
/// interleaving lapses anything before 190.
#[test]
fn t5_a_trial_issued_meanwhile_is_never_lapsed_at_once() {
    model("t5", || {
        let cfg = base().half_open_permits(2).half_open_timeout_ns(50).build().unwrap();
        let b = Arc::new(CircuitBreaker::new(cfg));
        b.trip(0).unwrap();
        let _first = b.try_acquire(100).unwrap();
        let hs = [140, 155].map(|now| spawn(&b, move |b| b.try_acquire(now).map(drop)));
        let results: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
        for r in results.iter().filter_map(|r| r.err()) {
            assert_eq!((r.state, r.transition), (State::HalfOpen, None), "{r:?}");
            assert!(r.retry_after_ns.is_some_and(|ns| ns >= 35), "{r:?}");
        }
        assert_eq!(b.snapshot(0).generation, 3, "nothing lapsed");
    });
}

/// T6 (single use): two threads record copies of one half-open trial permit at once. Exactly
/// one is counted; the other is refused and changes nothing, so a breaker that needs two
/// trial successes stays half-open until the second trial reports.
#[test]
fn t6_one_trial_permit_changes_the_trial_count_once() {
    model("t6", || {
        let b = Arc::new(CircuitBreaker::new(base().half_open_permits(2).build().unwrap()));
        b.trip(0).unwrap();
        let a = b.try_acquire(100).unwrap();
        let second = b.try_acquire(100).unwrap();
        let raw = a.to_raw();
        drop(a);
        let hs = [0, 1].map(|_| {
            spawn(&b, move |b| {
                let copy = ringbreaker::Permit::from_raw(raw).unwrap();
                b.try_record(copy, Outcome::Success, None, 101)
            })
        });
        let results: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| **r == Ok(None)).count(), 1, "{results:?}");
        assert_eq!(
            results
                .iter()
                .filter(|r| **r == Err(ringbreaker::RecordError::AlreadyRecorded))
                .count(),
            1,
            "{results:?}"
        );
        assert_eq!(b.snapshot(101).state, State::HalfOpen);
        let t = b.record(second, Outcome::Success, 102).expect("the second trial closes it");
        assert_eq!(t.reason, Reason::TrialsSucceeded);
    });
}

/// W4: a record racing a reset, then generations up to one that shares its stamp bits (under
/// loom a stamp keeps 2 bits of the generation, so generation 5 aliases generation 1): the
/// window of generation 5 starts empty in every interleaving.
#[test]
fn w4_an_aliasing_generation_starts_with_an_empty_window() {
    model("w4", || {
        let b = Arc::new(CircuitBreaker::new(base().build().unwrap()));
        let p = b.try_acquire(5).unwrap();
        let rec = spawn(&b, move |b| b.record(p, Outcome::Failure, 5));
        let reset = spawn(&b, |b| b.reset(5));
        rec.join().unwrap();
        assert!(reset.join().unwrap().is_some());
        b.disable(5).unwrap(); // 3
        b.metrics_only(5).unwrap(); // 4: a fresh window
        let t = b.reset(5).unwrap(); // 5 ≡ 1 (mod 4)
        assert_eq!(t.generation, 5);
        let m = b.snapshot(5);
        assert_eq!((m.calls, m.failures), (0, 0), "generation 1's failure read as generation 5's");
    });
}

/// S1: with a striped window, two failures recorded at once in two stripes (loom threads 1
/// and 2 count in stripes 1 and 0) are each counted once, a snapshot racing them never sees
/// more than were recorded, and the failure that completes the threshold trips the breaker:
/// exactly one trip, never none (the store-buffering pattern the `SeqCst` counts rule out).
#[test]
fn s1_striped_failures_are_counted_once_and_trip_once() {
    model("s1", || {
        let cfg = base().stripes(2).minimum_calls(2).failure_rate(1.0).build().unwrap();
        let b = Arc::new(CircuitBreaker::new(cfg));
        let permits = [b.try_acquire(5).unwrap(), b.try_acquire(5).unwrap()];
        let hs = permits.map(|p| spawn(&b, move |b| b.record(p, Outcome::Failure, 5)));
        let reader = spawn(&b, |b| b.snapshot(5).failures);
        let ts: Vec<Transition> = hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert!(reader.join().unwrap() <= 2);
        assert_eq!(ts.len(), 1, "{ts:?}");
        assert_eq!(ts[0].reason, Reason::FailureRate);
        assert_eq!(b.snapshot(5).failures, 2, "each failure counted once");
        assert_chain(&b, 1, State::Closed, ts);
    });
}
