//! ringbreaker against the floor and its peers, in one run (`make bench`).
//!
//! Every figure is the time of one guarded call (acquire + record of a success unless the name
//! says otherwise). Floors are what no breaker can beat: an atomic increment, a clock read,
//! both. The measured loops are `ringbreaker_benches::work` (shared with `make bench-quick`);
//! results are kept in registers, not stored through `black_box` (see that module).
//!
//! Caller-time benches come in three variants: `still` (1 ns a call, never leaves a 1 s bucket),
//! `rotate_1us` (1 µs a call: a bucket boundary every 10⁶ calls) and `rotate_every_call` (every
//! call in a new bucket, the worst case).
//!
//! Thread groups (`threads_1`, `threads_2`) run on threads pinned to distinct allowed CPUs, start
//! together and stop when the first thread finishes (`ringbreaker_benches::run_threads`); the
//! figure there is the wall time per call per thread (throughput = threads / figure). Where
//! the threads actually ran is printed after each group, with a loud warning if two shared a CPU.
#![allow(missing_docs, clippy::std_instead_of_core)]

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;
use failsafe::{backoff, failure_policy};
use ringbreaker::{CircuitBreaker, Config};
use ringbreaker_benches::work::{self, STEP_REALISTIC, STEP_STILL, STEP_WORST};
use ringbreaker_benches::{OldDesign, PinCheck, allowed_cpus, pin, run_threads};
use ringbreaker_ffi::{rb_breaker_free, rb_breaker_new, rb_config_default, rb_status};

const STEPS: [(&str, u64); 3] =
    [("still", STEP_STILL), ("rotate_1us", STEP_REALISTIC), ("rotate_every_call", STEP_WORST)];

fn breaker() -> CircuitBreaker {
    CircuitBreaker::new(Config::default())
}

/// Time `f(iters)`.
fn timed(iters: u64, f: impl FnOnce(u64)) -> Duration {
    let t = Instant::now();
    f(iters);
    t.elapsed()
}

fn floor(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("floor");
    let counter = AtomicU64::new(0);
    g.bench_function("fetch_add", |b| {
        b.iter_custom(|n| timed(n, |n| work::floor_fetch_add(&counter, n)))
    });
    g.bench_function("fetch_add_black_box", |b| {
        b.iter_custom(|n| timed(n, |n| work::floor_fetch_add_black_box(&counter, n)))
    });
    g.bench_function("clock_read", |b| b.iter_custom(|n| timed(n, work::floor_clock)));
    g.bench_function("clock_read+fetch_add", |b| {
        b.iter_custom(|n| timed(n, |n| work::floor_clock_fetch_add(&counter, n)))
    });
    g.finish();
}

fn single(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("ringbreaker");
    for (label, step) in STEPS {
        let cb = breaker();
        let mut now = 1_u64;
        g.bench_function(format!("acquire+record/caller_time/{label}"), |b| {
            b.iter_custom(|n| timed(n, |n| now = work::acquire_record(&cb, now, step, n)))
        });
    }
    let cb = breaker();
    g.bench_function("acquire+record/default_clock", |b| {
        b.iter_custom(|n| timed(n, |n| work::acquire_record_clock(&cb, n)))
    });
    let cb = breaker();
    g.bench_function("acquire+record/coarse_clock", |b| {
        b.iter_custom(|n| timed(n, |n| work::acquire_record_coarse(&cb, n)))
    });
    // Failures that never trip: the threshold is 100 % and one success sits in the window
    // (caller time still, so that success stays in the window).
    let cfg = Config::builder().failure_rate(1.0).build().expect("valid");
    let cb = CircuitBreaker::new(cfg);
    let mut now = work::acquire_record(&cb, 0, 1, 1);
    g.bench_function("record_failure/no_trip", |b| {
        b.iter_custom(|n| timed(n, |n| now = work::acquire_record_failure(&cb, now, STEP_STILL, n)))
    });
    assert_eq!(cb.state(now), ringbreaker::State::Closed, "the failure bench must not trip");
    let cb = breaker();
    cb.trip(1);
    g.bench_function("rejected/open", |b| {
        b.iter_custom(|n| timed(n, |n| work::rejected(&cb, 2, n)))
    });
    let cb = breaker();
    g.bench_function("snapshot", |b| b.iter_custom(|n| timed(n, |n| work::snapshot(&cb, 2, n))));
    let cb = breaker();
    g.bench_function("call", |b| b.iter_custom(|n| timed(n, |n| work::call(&cb, n))));
    g.finish();
}

/// The C ABI's entry points called from Rust in this process (not inlined across the crate
/// boundary), against the same loop in Rust above.
fn c_abi(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("c_abi");
    for (label, step) in STEPS {
        let cfg = rb_config_default();
        let mut b_ptr = core::ptr::null_mut();
        // SAFETY: valid locals.
        assert!(unsafe { rb_breaker_new(&cfg, &mut b_ptr) } == rb_status::RB_OK);
        let mut now = 1_u64;
        g.bench_function(format!("acquire+record/caller_time/{label}"), |b| {
            b.iter_custom(|n| {
                timed(n, |n| {
                    // SAFETY: `b_ptr` is freed only after this bench.
                    now = unsafe { work::ffi_acquire_record(b_ptr, now, step, n) };
                })
            })
        });
        // SAFETY: from rb_breaker_new, freed once.
        unsafe { rb_breaker_free(b_ptr) };
    }
    g.finish();
}

fn peers(c: &mut Criterion) {
    pin(0);
    let mut g = c.benchmark_group("peers");
    let fs = failsafe::Config::new().build();
    g.bench_function("failsafe/default", |b| {
        b.iter_custom(|n| timed(n, |n| work::failsafe(&fs, n)))
    });
    let fs = failsafe::Config::new()
        .failure_policy(failure_policy::consecutive_failures(
            3,
            backoff::exponential(Duration::from_secs(10), Duration::from_secs(60)),
        ))
        .build();
    g.bench_function("failsafe/consecutive_failures", |b| {
        b.iter_custom(|n| timed(n, |n| work::failsafe(&fs, n)))
    });
    let rc = recloser::Recloser::default();
    g.bench_function("recloser", |b| b.iter_custom(|n| timed(n, |n| work::recloser(&rc, n))));
    let old = OldDesign::new();
    let mut now = 1_u64;
    g.bench_function("old_design", |b| {
        b.iter_custom(|n| timed(n, |n| now = work::old_design(&old, now, n)))
    });
    g.finish();
}

/// One thread count of the curve: each candidate run by `threads` threads on one shared object.
fn threads(c: &mut Criterion, threads: usize) {
    let mut g = c.benchmark_group(format!("threads_{threads}"));
    let names: Vec<String> = ["floor/shared_fetch_add", "floor/padded_per_thread"]
        .into_iter()
        .map(str::to_owned)
        .chain(STEPS.iter().map(|(label, _)| format!("ringbreaker/caller_time/{label}")))
        .chain(
            [
                "ringbreaker/striped/still",
                "ringbreaker/rejected/open",
                "failsafe/default",
                "recloser",
            ]
            .into_iter()
            .map(str::to_owned),
        )
        .collect();
    let checks: Vec<PinCheck> = names.iter().map(|_| PinCheck::new()).collect();
    let check =
        |name: &str| -> &PinCheck { &checks[names.iter().position(|n| n == name).expect("named")] };
    let shared = CachePadded::new(AtomicU64::new(0));
    let p = check("floor/shared_fetch_add");
    g.bench_function("floor/shared_fetch_add", |b| {
        b.iter_custom(|n| {
            run_threads(threads, n, Some(p), |_, _, k| work::floor_fetch_add(&shared, k)).scaled(n)
        })
    });
    let padded: Vec<CachePadded<AtomicU64>> =
        (0..threads).map(|_| CachePadded::new(AtomicU64::new(0))).collect();
    let p = check("floor/padded_per_thread");
    g.bench_function("floor/padded_per_thread", |b| {
        b.iter_custom(|n| {
            run_threads(threads, n, Some(p), |t, _, k| work::floor_fetch_add(&padded[t], k))
                .scaled(n)
        })
    });
    for (label, step) in STEPS {
        let name = format!("ringbreaker/caller_time/{label}");
        let p = check(&name);
        g.bench_function(&name, |b| {
            b.iter_custom(|n| {
                // A fresh breaker each sample; each thread's time is 1 + (its call index) × step,
                // so the threads' clocks advance together, as callers sharing a clock do.
                let cb = breaker();
                run_threads(threads, n, Some(p), |_, first, k| {
                    work::acquire_record(&cb, 1 + first * step, step, k);
                })
                .scaled(n)
            })
        });
    }
    // The opt-in striped window, one stripe per thread.
    let p = check("ringbreaker/striped/still");
    g.bench_function("ringbreaker/striped/still", |b| {
        b.iter_custom(|n| {
            let cfg = Config::builder().stripes(2).build().expect("valid");
            let cb = CircuitBreaker::new(cfg);
            run_threads(threads, n, Some(p), |_, first, k| {
                work::acquire_record(&cb, 1 + first * STEP_STILL, STEP_STILL, k);
            })
            .scaled(n)
        })
    });
    // An open breaker under load: every call rejected and counted.
    let p = check("ringbreaker/rejected/open");
    let open = breaker();
    open.trip(1);
    g.bench_function("ringbreaker/rejected/open", |b| {
        b.iter_custom(|n| {
            run_threads(threads, n, Some(p), |_, _, k| work::rejected(&open, 2, k)).scaled(n)
        })
    });
    let fs = failsafe::Config::new().build();
    let p = check("failsafe/default");
    g.bench_function("failsafe/default", |b| {
        b.iter_custom(|n| {
            run_threads(threads, n, Some(p), |_, _, k| work::failsafe(&fs, k)).scaled(n)
        })
    });
    let rc = recloser::Recloser::default();
    let p = check("recloser");
    g.bench_function("recloser", |b| {
        b.iter_custom(|n| {
            run_threads(threads, n, Some(p), |_, _, k| work::recloser(&rc, k)).scaled(n)
        })
    });
    g.finish();
    if threads < 2 {
        return;
    }
    let mut text = String::new();
    for (name, p) in names.iter().zip(&checks) {
        if p.runs() == 0 {
            continue; // filtered out of this run
        }
        let line = p.report(&format!("{threads} threads, {name}"));
        eprintln!("{line}");
        text += &line;
        text.push('\n');
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(format!("{dir}/pincheck_{threads}.txt"), text);
}

fn threads_1(c: &mut Criterion) {
    threads(c, 1);
}

fn threads_2(c: &mut Criterion) {
    threads(c, 2);
}

fn cpus_first(_: &mut Criterion) {
    // Read the allowed CPU set before any group pins the main thread (see `allowed_cpus`).
    let cpus = allowed_cpus();
    eprintln!("allowed CPUs {cpus:?}");
    if cpus.len() < 2 {
        eprintln!(
            "!!!!!!!! WARNING: fewer than 2 CPUs allowed: two-thread figures will share one CPU !!!!!!!!"
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = cpus_first, floor, single, c_abi, peers, threads_1, threads_2
}
criterion_main!(benches);
