//! The striped window (`Config::stripes`): validation, exact totals from many threads, trip
//! decisions over every stripe, striped rejections, and no ghost counts in any stripe after
//! the generation wraps its stamp.

use std::sync::Barrier;

use ringbreaker::{
    CircuitBreaker, Config, ConfigError, MAX_RING_SLOTS, MAX_STRIPES, Outcome, Reason, State,
    StaticBreaker,
};

fn striped(n: u32) -> ringbreaker::ConfigBuilder {
    Config::builder().stripes(n)
}

#[test]
fn stripes_must_be_a_power_of_two_up_to_the_maximum() {
    for bad in [0, 3, 6, 12, 100, MAX_STRIPES * 2, u32::MAX] {
        let e = striped(bad).build().unwrap_err();
        assert_eq!(e, ConfigError::Stripes(bad));
        assert_eq!(e.field(), "stripes");
        assert!(
            e.to_string().contains(&format!("stripes is {bad}, expected a power of two")),
            "{e}"
        );
    }
    for good in [1, 2, 4, 8, 16, 32, MAX_STRIPES] {
        let c = striped(good).build().unwrap();
        assert_eq!(c.stripes(), good);
        assert_eq!(c.ring_len(), c.buckets() * good);
    }
    assert_eq!(Config::default().stripes(), 1);
    let e = striped(64).buckets(4096).window_ns(4096).build().unwrap_err();
    assert_eq!(e, ConfigError::RingTooLarge { buckets: 4096, stripes: 64 });
    assert!(e.to_string().contains(&format!("above the maximum {MAX_RING_SLOTS}")), "{e}");
    assert!(striped(16).buckets(4096).window_ns(4096).build().is_ok(), "65,536 slots is the limit");
}

#[test]
fn each_stripe_costs_one_ring_of_memory() {
    let one = Config::default();
    let four = striped(4).build().unwrap();
    assert_eq!(one.stripe_bytes(), 10 * 128);
    let size = |c: &Config| ringbreaker::Breaker::layout(c.ring_len()).size();
    assert_eq!(size(&four) - size(&one), 3 * one.stripe_bytes());
}

#[test]
fn threads_recording_in_their_stripes_are_counted_exactly() {
    const THREADS: u64 = 8;
    // Miri interprets every instruction: fewer records there, the same interleaving code.
    const EACH: u64 = if cfg!(miri) { 60 } else { 20_000 };
    let b = CircuitBreaker::new(striped(8).minimum_calls(u32::MAX).build().unwrap());
    let start = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (b, start) = (&b, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..EACH {
                    // Caller time crossing buckets: 1 ms a call against 1 s buckets.
                    let now = 1 + (t * EACH + i) * 1_000_000 / THREADS / 8;
                    let p = b.try_acquire(now).expect("closed");
                    let outcome = if i % 3 == 0 { Outcome::Failure } else { Outcome::Success };
                    b.record_timed(p, outcome, 0, now);
                }
            });
        }
    });
    // Every record's time is in the last 2.5 s, inside the 10 s window read at its end.
    let end = 1 + THREADS * EACH * 1_000_000 / THREADS / 8;
    let m = b.snapshot(end);
    let failures = THREADS * EACH.div_ceil(3);
    assert_eq!(
        (m.calls, m.failures, m.successes),
        (THREADS * EACH, failures, THREADS * EACH - failures)
    );
}

#[test]
fn a_trip_is_decided_over_every_stripe() {
    // 4 threads × 10 failures: no stripe alone reaches minimum_calls = 40, all of them do.
    let b = CircuitBreaker::new(striped(4).minimum_calls(40).failure_rate(1.0).build().unwrap());
    let start = Barrier::new(4);
    let trips: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let mut t = Vec::new();
                    for _ in 0..10 {
                        if let Ok(p) = b.try_acquire(7) {
                            t.extend(b.record(p, Outcome::Failure, 7));
                        }
                    }
                    t
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(trips.len(), 1, "exactly one trip: {trips:?}");
    assert_eq!(trips[0].reason, Reason::FailureRate);
    assert_eq!(b.snapshot(7).failures, 40, "the 40th failure tripped it, none was lost");
    assert_eq!(b.state(7), State::Open);
}

#[test]
fn rejections_from_many_threads_are_counted_exactly() {
    const REJECTIONS: u64 = if cfg!(miri) { 50 } else { 10_000 };
    let b = CircuitBreaker::new(striped(4).build().unwrap());
    b.trip(1).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..REJECTIONS {
                    assert!(b.try_acquire(2).is_err());
                }
            });
        }
    });
    assert_eq!(b.snapshot(2).rejected, 4 * REJECTIONS);
}

#[cfg_attr(miri, ignore = "2^16 transitions take hours under miri")]
#[test]
fn no_ghost_counts_in_any_stripe_after_the_stamp_wraps() {
    let b = CircuitBreaker::new(striped(4).minimum_calls(u32::MAX).build().unwrap());
    // Counts in several stripes (one per thread), then 2^16 transitions: the generation comes
    // back to the same 16 stamp bits, and no stripe's old count may reappear.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let p = b.try_acquire(5).unwrap();
                b.record(p, Outcome::Failure, 5);
            });
        }
    });
    assert_eq!(b.snapshot(5).failures, 4);
    for _ in 0..(1u32 << 15) {
        b.disable(5).unwrap();
        b.reset(5).unwrap();
    }
    let m = b.snapshot(5);
    assert_eq!((m.calls, m.failures), (0, 0), "an old generation's count reappeared");
}

#[test]
fn a_static_breaker_holds_buckets_times_stripes() {
    const CFG: Config = match Config::builder().window_ns(4_000).buckets(4).stripes(2).build() {
        Ok(c) => c,
        Err(_) => panic!("valid"),
    };
    static B: StaticBreaker<8> = match StaticBreaker::new(CFG) {
        Ok(b) => b,
        Err(_) => panic!("8 = 4 buckets × 2 stripes"),
    };
    let p = B.try_acquire(1).unwrap();
    B.record(p, Outcome::Success, 1);
    assert_eq!(B.snapshot(1).successes, 1);
    assert_eq!(
        StaticBreaker::<4>::new(CFG).err(),
        Some(ConfigError::BucketStorage { buckets: 8, storage: 4 })
    );
}
