//! ringbreaker against the floor and its peers, in one run (`make bench`).
//!
//! Every figure is the time of one guarded call (acquire + record of a success unless the name
//! says otherwise). Floors are what no breaker can beat: an atomic increment, a clock read,
//! both. Contention runs two threads pinned to separate cores on one breaker; criterion's
//! figure there is the wall time per call per thread (throughput = 2 / figure).
#![allow(missing_docs, clippy::std_instead_of_core)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;
use failsafe::{CircuitBreaker as _, backoff, failure_policy};
use ringbreaker::{CircuitBreaker, Config, Outcome, now_ns};
use ringbreaker_benches::{OldDesign, pin, two_threads};

fn breaker() -> CircuitBreaker {
    CircuitBreaker::new(Config::default())
}

/// Caller-supplied time: a timestamp the caller already holds, advancing 1 ns a call.
fn acquire_record(b: &CircuitBreaker, now: u64) {
    let p = b.try_acquire(now).expect("closed");
    black_box(b.record(p, Outcome::Success, now));
}

fn floor(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("floor");
    let counter = AtomicU64::new(0);
    g.bench_function("fetch_add", |b| {
        b.iter(|| black_box(&counter).fetch_add(1, Ordering::AcqRel))
    });
    g.bench_function("clock_read", |b| b.iter(now_ns));
    g.bench_function("clock_read+fetch_add", |b| {
        b.iter(|| black_box(&counter).fetch_add(now_ns() & 1, Ordering::AcqRel))
    });
    g.finish();
}

fn single(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("ringbreaker");
    let cb = breaker();
    let mut now = 1_u64;
    g.bench_function("acquire+record/caller_time", |b| {
        b.iter(|| {
            now += 1;
            acquire_record(&cb, now)
        })
    });
    let cb = breaker();
    g.bench_function("acquire+record/default_clock", |b| {
        b.iter(|| {
            let now = now_ns();
            acquire_record(&cb, now)
        })
    });
    // Failures that never trip: the threshold is 100 % and one success sits in the window.
    let cfg = Config::builder().failure_rate(1.0).build().expect("valid");
    let cb = CircuitBreaker::new(cfg);
    let mut now = 1_u64;
    acquire_record(&cb, now);
    g.bench_function("record_failure/no_trip", |b| {
        b.iter(|| {
            now += 1;
            let p = cb.try_acquire(now).expect("closed");
            black_box(cb.record(p, Outcome::Failure, now));
        })
    });
    assert_eq!(cb.state(now), ringbreaker::State::Closed, "the failure bench must not trip");
    let cb = breaker();
    cb.trip(1);
    g.bench_function("rejected/open", |b| {
        b.iter(|| black_box(cb.try_acquire(black_box(2))).is_err())
    });
    let cb = breaker();
    g.bench_function("snapshot", |b| b.iter(|| black_box(cb.snapshot(black_box(2)))));
    let cb = breaker();
    g.bench_function("call", |b| b.iter(|| black_box(cb.call(|| Ok::<u32, ()>(black_box(1))))));
    g.finish();
}

fn peers(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("peers");
    let fs = failsafe::Config::new().build();
    g.bench_function("failsafe/default", |b| {
        b.iter(|| black_box(fs.call(|| Ok::<u32, ()>(black_box(1)))))
    });
    let fs = failsafe::Config::new()
        .failure_policy(failure_policy::consecutive_failures(
            3,
            backoff::exponential(Duration::from_secs(10), Duration::from_secs(60)),
        ))
        .build();
    g.bench_function("failsafe/consecutive_failures", |b| {
        b.iter(|| black_box(fs.call(|| Ok::<u32, ()>(black_box(1)))))
    });
    let rc = recloser::Recloser::default();
    g.bench_function("recloser", |b| b.iter(|| black_box(rc.call(|| Ok::<u32, ()>(black_box(1))))));
    let old = OldDesign::new();
    let mut now = 1_u64;
    g.bench_function("old_design", |b| {
        b.iter(|| {
            now += 1;
            if old.allow(now) {
                old.record(true, now);
            }
        })
    });
    g.finish();
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("contention_2_threads");
    let shared = AtomicU64::new(0);
    g.bench_function("floor/shared_fetch_add", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_, n| {
                for _ in 0..n {
                    black_box(&shared).fetch_add(1, Ordering::AcqRel);
                }
            })
        })
    });
    let padded = [CachePadded::new(AtomicU64::new(0)), CachePadded::new(AtomicU64::new(0))];
    g.bench_function("floor/padded_per_thread", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                for _ in 0..n {
                    black_box(&padded[t]).fetch_add(1, Ordering::AcqRel);
                }
            })
        })
    });
    let cb = breaker();
    let clock = AtomicU64::new(1);
    g.bench_function("ringbreaker/caller_time", |b| {
        b.iter_custom(|iters| {
            // each thread holds its own timestamp, as a caller on a hot loop does
            let base = clock.fetch_add(iters, Ordering::Relaxed);
            two_threads(iters, |_, n| {
                for i in 0..n {
                    acquire_record(&cb, base + i);
                }
            })
        })
    });
    let fs = failsafe::Config::new().build();
    g.bench_function("failsafe/default", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_, n| {
                for _ in 0..n {
                    let _ = black_box(fs.call(|| Ok::<u32, ()>(black_box(1))));
                }
            })
        })
    });
    let rc = recloser::Recloser::default();
    g.bench_function("recloser", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_, n| {
                for _ in 0..n {
                    let _ = black_box(rc.call(|| Ok::<u32, ()>(black_box(1))));
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = floor, single, peers, contention
}
criterion_main!(benches);
