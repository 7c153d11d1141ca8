//! Calls per second per process on one shared breaker vs a private breaker per process.
//!
//! `shared_bench [SECONDS]` runs, for 1 and for 4 processes, each process calling
//! acquire + record(success) in a loop for SECONDS (default 1): first every process on its own
//! heap breaker, then every process on one shared region. It prints calls/s per process and
//! the ratio shared / private. Both modes read the host clock once per 64 calls.
//!
//! `shared_bench peer PATH NOW OP...` is the Rust peer of the cross-language test
//! (py/tests/test_shared_interop.py): OP is `s` (acquire + success), `f` (acquire + failure),
//! `trip`, `reset` or `snap` (print the snapshot at NOW).

use core::time::Duration;
use std::process::{Command, Stdio};

use ringbreaker::shared::SharedBreaker;
use ringbreaker::{Breaker, CircuitBreaker, Config, Outcome};

fn bench_config() -> Config {
    Config::builder().minimum_calls(u32::MAX).build().expect("valid config")
}

fn interop_config() -> Config {
    Config::builder()
        .window_ns(60_000_000_000)
        .buckets(6)
        .minimum_calls(4)
        .open_ns(1_000_000_000)
        .half_open_permits(2)
        .build()
        .expect("valid config")
}

fn print_snapshot(b: &SharedBreaker, now: u64) {
    let m = b.snapshot(now);
    println!(
        "snap {} {} {} {} {} {} {} {} {} {}",
        m.state as u8,
        m.generation,
        m.calls,
        m.successes,
        m.failures,
        m.slow_calls,
        m.rejected,
        m.stale,
        m.open_ns,
        m.time_until_half_open_ns.unwrap_or(0)
    );
}

fn peer(args: &[String]) {
    let b = SharedBreaker::open(&args[0], interop_config()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let now: u64 = args[1].parse().expect("NOW is an integer of nanoseconds");
    for op in &args[2..] {
        match op.as_str() {
            "s" | "f" => {
                let p = b.try_acquire(now).expect("permitted");
                let o = if op == "s" { Outcome::Success } else { Outcome::Failure };
                b.record(p, o, now);
            }
            "trip" => {
                b.trip(now);
            }
            "reset" => {
                b.reset(now);
            }
            "snap" => print_snapshot(&b, now),
            other => {
                eprintln!("unknown op {other}");
                std::process::exit(2)
            }
        }
    }
}

/// acquire + record(success) until `secs` have passed; the number of calls.
fn hammer(b: &Breaker, secs: f64) -> u64 {
    let end = SharedBreaker::now_ns() + (secs * 1e9) as u64;
    let mut calls = 0u64;
    let mut now = SharedBreaker::now_ns();
    while now < end {
        for _ in 0..64 {
            let p = b.try_acquire(now).expect("closed");
            b.record(p, Outcome::Success, now);
        }
        calls += 64;
        now = SharedBreaker::now_ns();
    }
    calls
}

fn worker(args: &[String]) {
    let (mode, path, secs) = (&args[0], &args[1], args[2].parse::<f64>().expect("seconds"));
    let calls = if mode == "shared" {
        let s = SharedBreaker::open(path, bench_config()).expect("open the region");
        hammer(s.breaker(), secs)
    } else {
        hammer(&CircuitBreaker::new(bench_config()), secs)
    };
    println!("{calls}");
}

/// Run `procs` workers at once; mean calls/s per process.
fn run(mode: &str, procs: usize, path: &str, secs: f64) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let kids: Vec<_> = (0..procs)
        .map(|_| {
            Command::new(&exe)
                .args(["worker", mode, path, &secs.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a worker")
        })
        .collect();
    let total: u64 = kids
        .into_iter()
        .map(|k| {
            let out = k.wait_with_output().expect("worker output");
            String::from_utf8_lossy(&out.stdout).trim().parse::<u64>().expect("a count")
        })
        .sum();
    total as f64 / secs / procs as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("peer") => return peer(&args[1..]),
        Some("worker") => return worker(&args[1..]),
        _ => {}
    }
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let path = std::env::temp_dir().join(format!("ringbreaker.bench-{}", std::process::id()));
    let path = path.to_string_lossy().into_owned();
    let _ = SharedBreaker::unlink(&path);
    // Create the region up front so no worker's timing includes creation.
    let region = SharedBreaker::open(&path, bench_config()).expect("create the region");
    println!("procs  private calls/s/proc  shared calls/s/proc  shared/private");
    for procs in [1, 4] {
        let private = run("private", procs, &path, secs);
        let shared = run("shared", procs, &path, secs);
        println!("{procs:>5}  {private:>20.0}  {shared:>19.0}  {:>14.2}", shared / private);
    }
    let m = region.snapshot(SharedBreaker::now_ns());
    println!("(shared region counted {} successes in its window)", m.successes);
    drop(region);
    let _ = SharedBreaker::unlink(&path);
    std::thread::sleep(Duration::from_millis(1));
}
