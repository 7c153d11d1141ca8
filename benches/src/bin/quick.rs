//! `make bench-quick`: the Rust and C-ABI figures of the targets table in well under a minute.
//!
//! Every candidate is timed once per round, in turn, and each ratio is the median over rounds of
//! the ratio *within* a round, so a slow spell of a shared machine falls on both sides of a
//! ratio alike. Prints a table and the pinning check, and writes `key median min max` lines to
//! the file given (default `target/bench/quick.txt`) for `benches/report.py`.
//!
//! Usage: `quick [OUT] [ROUNDS]`.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use ringbreaker::{CircuitBreaker, Config};
use ringbreaker_benches::work::{self, STEP_REALISTIC, STEP_STILL, STEP_WORST};
use ringbreaker_benches::{OldDesign, PinCheck, allowed_cpus, cpu_model, pin, run_threads};
use ringbreaker_ffi::{rb_breaker, rb_breaker_free, rb_breaker_new, rb_config_default, rb_status};

/// Target time of one sample (one candidate in one round).
const SAMPLE: Duration = Duration::from_millis(10);

type Single<'a> = (&'static str, Box<dyn FnMut(u64) + 'a>);

/// Calls that take about `SAMPLE`, found by doubling.
fn calibrate(f: &mut dyn FnMut(u64)) -> u64 {
    let mut n = 64_u64;
    loop {
        let t = Instant::now();
        f(n);
        let e = t.elapsed();
        if e >= SAMPLE / 4 || n >= 1 << 32 {
            let per = e.as_nanos().max(1) as f64 / n as f64;
            return ((SAMPLE.as_nanos() as f64 / per) as u64).max(16);
        }
        n *= 2;
    }
}

fn median(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

struct Samples(BTreeMap<String, Vec<f64>>);

impl Samples {
    fn push(&mut self, key: &str, v: f64) {
        self.0.entry(key.to_owned()).or_default().push(v);
    }
    fn get(&self, key: &str) -> &[f64] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
    /// Median, min and max over rounds of `a[r] / b[r]`.
    fn ratio(&self, a: &str, b: &str) -> (f64, f64, f64) {
        let mut r: Vec<f64> = self.get(a).iter().zip(self.get(b)).map(|(x, y)| x / y).collect();
        median(&mut r)
    }
    fn figure(&self, key: &str) -> (f64, f64, f64) {
        median(&mut self.get(key).to_vec())
    }
}

struct FfiBreaker(*mut rb_breaker);

impl FfiBreaker {
    fn new() -> Self {
        let cfg = rb_config_default();
        let mut b = core::ptr::null_mut();
        // SAFETY: both pointers are valid locals.
        let s = unsafe { rb_breaker_new(&cfg, &mut b) };
        assert!(s == rb_status::RB_OK, "rb_breaker_new failed");
        Self(b)
    }
}

impl FfiBreaker {
    fn acquire_record(&self, now: u64, step: u64, n: u64) -> u64 {
        // SAFETY: `self.0` is live until `self` drops.
        unsafe { work::ffi_acquire_record(self.0, now, step, n) }
    }
}

impl Drop for FfiBreaker {
    fn drop(&mut self) {
        // SAFETY: from rb_breaker_new, freed once.
        unsafe { rb_breaker_free(self.0) }
    }
}

fn main() {
    // Before anything pins a thread (see `allowed_cpus`).
    let cpus = allowed_cpus().to_vec();
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "target/bench/quick.txt".to_owned());
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    let model = cpu_model();
    println!("CPU: {model}; allowed CPUs {cpus:?}; {rounds} rounds");
    if cpus.len() < 2 {
        eprintln!(
            "!!!!!!!! WARNING: fewer than 2 CPUs allowed: two-thread figures will share one CPU !!!!!!!!"
        );
    }
    if pin(0).is_none() {
        eprintln!("!!!!!!!! WARNING: could not pin the main thread !!!!!!!!");
    }

    // ---- one thread ---------------------------------------------------------------------------
    let counter = AtomicU64::new(0);
    let cas_word = AtomicU64::new(0);
    let (rb_still, rb_real, rb_worst) = (
        CircuitBreaker::new(Config::default()),
        CircuitBreaker::new(Config::default()),
        CircuitBreaker::new(Config::default()),
    );
    let (rb_clock, rb_call) =
        (CircuitBreaker::new(Config::default()), CircuitBreaker::new(Config::default()));
    let rb_coarse = CircuitBreaker::new(Config::default());
    let rb_open = CircuitBreaker::new(Config::default());
    rb_open.trip(1);
    let (ffi_still, ffi_real, ffi_worst) =
        (FfiBreaker::new(), FfiBreaker::new(), FfiBreaker::new());
    let rc = recloser::Recloser::default();
    let fs = failsafe::Config::new().build();
    let old = OldDesign::new();
    let (mut t_still, mut t_real, mut t_worst) = (1_u64, 1_u64, 1_u64);
    let (mut f_still, mut f_real, mut f_worst) = (1_u64, 1_u64, 1_u64);
    let mut t_old = 1_u64;
    let mut single: Vec<Single<'_>> = vec![
        ("floor.fetch_add", Box::new(|n| work::floor_fetch_add(&counter, n))),
        ("floor.fetch_add_black_box", Box::new(|n| work::floor_fetch_add_black_box(&counter, n))),
        ("floor.load_cas", Box::new(|n| work::floor_load_cas(&cas_word, n))),
        ("floor.clock", Box::new(work::floor_clock)),
        ("floor.clock_coarse", Box::new(work::floor_clock_coarse)),
        ("floor.clock_fetch_add", Box::new(|n| work::floor_clock_fetch_add(&counter, n))),
        (
            "rb.acquire_record.still",
            Box::new(|n| t_still = work::acquire_record(&rb_still, t_still, STEP_STILL, n)),
        ),
        (
            "rb.acquire_record.realistic",
            Box::new(|n| t_real = work::acquire_record(&rb_real, t_real, STEP_REALISTIC, n)),
        ),
        (
            "rb.acquire_record.worst",
            Box::new(|n| t_worst = work::acquire_record(&rb_worst, t_worst, STEP_WORST, n)),
        ),
        ("rb.acquire_record.clock", Box::new(|n| work::acquire_record_clock(&rb_clock, n))),
        ("rb.acquire_record.coarse", Box::new(|n| work::acquire_record_coarse(&rb_coarse, n))),
        ("rb.call", Box::new(|n| work::call(&rb_call, n))),
        ("rb.rejected", Box::new(|n| work::rejected(&rb_open, 2, n))),
        (
            "c.acquire_record.still",
            Box::new(|n| f_still = ffi_still.acquire_record(f_still, STEP_STILL, n)),
        ),
        (
            "c.acquire_record.realistic",
            Box::new(|n| f_real = ffi_real.acquire_record(f_real, STEP_REALISTIC, n)),
        ),
        (
            "c.acquire_record.worst",
            Box::new(|n| f_worst = ffi_worst.acquire_record(f_worst, STEP_WORST, n)),
        ),
        ("peer.recloser", Box::new(|n| work::recloser(&rc, n))),
        ("peer.failsafe", Box::new(|n| work::failsafe(&fs, n))),
        ("peer.old_design", Box::new(|n| t_old = work::old_design(&old, t_old, n))),
    ];
    let sizes: Vec<u64> = single.iter_mut().map(|(_, f)| calibrate(f.as_mut())).collect();
    let mut s = Samples(BTreeMap::new());
    for _ in 0..rounds {
        for ((name, f), &n) in single.iter_mut().zip(&sizes) {
            let t = Instant::now();
            f(n);
            s.push(name, t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    drop(single);

    // ---- 1 and 2 threads ------------------------------------------------------------------------
    let names = [
        "shared",
        "padded",
        "rb.still",
        "rb.realistic",
        "rb.worst",
        "rb.striped",
        "rb.rejected",
        "recloser",
        "failsafe",
    ];
    let pins: BTreeMap<&str, PinCheck> = names.into_iter().map(|k| (k, PinCheck::new())).collect();
    let shared = CachePadded::new(AtomicU64::new(0));
    let padded: Vec<CachePadded<AtomicU64>> =
        (0..2).map(|_| CachePadded::new(AtomicU64::new(0))).collect();
    // calls per thread per sample: about SAMPLE at one thread's speed of the slowest candidate
    let group = |name: &'static str, threads: usize, n: u64| -> f64 {
        let p = pins.get(name).filter(|_| threads > 1);
        let r = match name {
            "shared" => run_threads(threads, n, p, |_, _, k| work::floor_fetch_add(&shared, k)),
            "padded" => run_threads(threads, n, p, |t, _, k| work::floor_fetch_add(&padded[t], k)),
            "recloser" => {
                let rc = recloser::Recloser::default();
                run_threads(threads, n, p, |_, _, k| work::recloser(&rc, k))
            }
            "failsafe" => {
                let fs = failsafe::Config::new().build();
                run_threads(threads, n, p, |_, _, k| work::failsafe(&fs, k))
            }
            "rb.striped" => {
                // The opt-in striped window: one stripe per thread.
                let cfg = Config::builder().stripes(2).build().expect("valid");
                let cb = CircuitBreaker::new(cfg);
                run_threads(threads, n, p, |_, first, k| {
                    work::acquire_record(&cb, 1 + first * STEP_STILL, STEP_STILL, k);
                })
            }
            "rb.rejected" => {
                // An open breaker (default config) under load: every call rejected and counted.
                let cb = CircuitBreaker::new(Config::default());
                cb.trip(1);
                run_threads(threads, n, p, |_, _, k| work::rejected(&cb, 2, k))
            }
            _ => {
                let step = match name {
                    "rb.still" => STEP_STILL,
                    "rb.realistic" => STEP_REALISTIC,
                    _ => STEP_WORST,
                };
                // A fresh breaker each sample; thread t's time is base + (its call index) × step,
                // so both threads' clocks advance together.
                let cb = CircuitBreaker::new(Config::default());
                run_threads(threads, n, p, |_, first, k| {
                    work::acquire_record(&cb, 1 + first * step, step, k);
                })
            }
        };
        r.ns_per_call_per_thread()
    };
    let mut gsizes = BTreeMap::new();
    for name in names {
        // calibrate at one thread
        let mut n = 1024_u64;
        loop {
            let ns = group(name, 1, n);
            if ns * n as f64 >= SAMPLE.as_nanos() as f64 / 4.0 {
                gsizes.insert(name, ((SAMPLE.as_nanos() as f64 * 2.0 / ns) as u64).max(1024));
                break;
            }
            n *= 2;
        }
    }
    for _ in 0..rounds {
        for name in names {
            for threads in [1, 2] {
                let ns = group(name, threads, gsizes[name]);
                s.push(&format!("t{threads}.{name}"), ns);
            }
        }
    }

    // ---- output -------------------------------------------------------------------------------
    let mut text = String::new();
    let mut table = String::new();
    let _ = writeln!(table, "\n| figure | median | min – max |\n|---|---|---|");
    for key in s.0.keys().cloned().collect::<Vec<_>>() {
        let (m, lo, hi) = s.figure(&key);
        let _ = writeln!(text, "ns.{key} {m:.3} {lo:.3} {hi:.3}");
        let _ = writeln!(
            table,
            "| {key} (ns per call{}) | {m:.2} | {lo:.2} – {hi:.2} |",
            if key.starts_with("t2.") { " per thread" } else { "" }
        );
    }
    let ratios: &[(&str, &str, &str)] = &[
        ("one_thread_vs_floor", "rb.acquire_record.still", "floor.fetch_add"),
        ("one_thread_realistic_vs_floor", "rb.acquire_record.realistic", "floor.fetch_add"),
        ("one_thread_worst_vs_floor", "rb.acquire_record.worst", "floor.fetch_add"),
        ("floor_black_box_vs_floor", "floor.fetch_add_black_box", "floor.fetch_add"),
        ("load_cas_vs_floor", "floor.load_cas", "floor.fetch_add"),
        ("one_thread_vs_load_cas", "rb.acquire_record.still", "floor.load_cas"),
        ("call_vs_clock_loop", "rb.call", "rb.acquire_record.clock"),
        ("call_vs_coarse_loop", "rb.call", "rb.acquire_record.coarse"),
        ("rejected_vs_floor", "rb.rejected", "floor.fetch_add"),
        ("c_vs_rust", "c.acquire_record.still", "rb.acquire_record.still"),
        ("c_vs_rust_realistic", "c.acquire_record.realistic", "rb.acquire_record.realistic"),
        ("c_vs_rust_worst", "c.acquire_record.worst", "rb.acquire_record.worst"),
        ("two_threads_vs_shared", "t2.rb.still", "t2.shared"),
        ("two_threads_realistic_vs_shared", "t2.rb.realistic", "t2.shared"),
        ("two_threads_worst_vs_shared", "t2.rb.worst", "t2.shared"),
        ("two_threads_vs_padded", "t2.rb.still", "t2.padded"),
        ("two_threads_striped_vs_padded", "t2.rb.striped", "t2.padded"),
        ("two_threads_striped_vs_shared", "t2.rb.striped", "t2.shared"),
        ("two_threads_rejected_vs_padded", "t2.rb.rejected", "t2.padded"),
        ("two_threads_rejected_vs_one", "t2.rb.rejected", "t1.rb.rejected"),
        // throughput ratio = inverse of the per-call figures' ratio
        ("two_threads_throughput_vs_recloser", "t2.recloser", "t2.rb.still"),
        ("two_threads_realistic_throughput_vs_recloser", "t2.recloser", "t2.rb.realistic"),
        ("two_threads_throughput_vs_failsafe", "t2.failsafe", "t2.rb.still"),
        ("one_thread_vs_recloser", "rb.acquire_record.still", "peer.recloser"),
    ];
    let _ = writeln!(
        table,
        "\n| ratio (median of same-round ratios) | median | min – max |\n|---|---|---|"
    );
    for (key, a, b) in ratios {
        let (m, lo, hi) = s.ratio(a, b);
        let _ = writeln!(text, "ratio.{key} {m:.4} {lo:.4} {hi:.4}");
        let _ = writeln!(table, "| {key} | {m:.3} | {lo:.3} – {hi:.3} |");
    }
    // thread-count curve: throughput in M calls/s = threads × 1000 / (ns per call per thread)
    let _ = writeln!(
        table,
        "\n| throughput (M calls/s) | 1 thread | 2 threads | 2 ÷ 1 |\n|---|---|---|---|"
    );
    for name in names {
        let (one, _, _) = s.figure(&format!("t1.{name}"));
        let (two, _, _) = s.figure(&format!("t2.{name}"));
        let (t1, t2) = (1e3 / one, 2e3 / two);
        let _ = writeln!(text, "curve.{name} {t1:.3} {t2:.3}");
        let _ = writeln!(table, "| {name} | {t1:.1} | {t2:.1} | {:.2} |", t2 / t1);
    }
    let mut pin_text = String::new();
    for name in names {
        let line = pins[name].report(&format!("2 threads, {name}"));
        eprintln!("{line}");
        pin_text += &line;
        pin_text.push('\n');
    }
    let _ = writeln!(text, "cpu {model}");
    let _ = writeln!(text, "rounds {rounds}");
    for l in pin_text.lines() {
        let _ = writeln!(text, "pincheck {l}");
    }
    println!("{table}");
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, text).expect("write the quick results");
    println!("wrote {out}");
}
