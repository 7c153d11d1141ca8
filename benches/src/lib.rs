//! Shared pieces of the benchmarks: the rebuilt old design, CPU pinning with its check, the
//! multi-thread runner, and the measured loops (`work`) that the criterion benches and the
//! `quick` binary both drive, so both time the same machine code.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

use std::collections::BTreeSet;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub mod work;

/// The design the project replaces (`rolling-window-action-plan.md`), rebuilt faithfully: a
/// mutex around a list of timestamped records that is filtered to the window, trimmed to the
/// last 1,000 entries, and filtered again to count failures, on every call. Each filter and
/// trim builds a new list, as the original's `filter()` and `slice()` did.
pub struct OldDesign {
    inner: Mutex<OldState>,
    window_ns: u64,
    open_ns: u64,
    volume_threshold: usize,
    failure_rate: f64,
}

#[derive(Clone, Copy)]
struct Record {
    at_ns: u64,
    success: bool,
}

struct OldState {
    history: Vec<Record>,
    open_since: Option<u64>,
}

/// How many records the old design keeps.
pub const OLD_DESIGN_LIMIT: usize = 1_000;

impl OldDesign {
    /// The same thresholds as ringbreaker's defaults: 10 s window, 50 % over 20 calls, 5 s open.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(OldState { history: Vec::new(), open_since: None }),
            window_ns: 10_000_000_000,
            open_ns: 5_000_000_000,
            volume_threshold: 20,
            failure_rate: 0.5,
        }
    }

    /// Whether a call may go ahead at `now` (the original's `canExecute`).
    pub fn allow(&self, now: u64) -> bool {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let cutoff = now.saturating_sub(self.window_ns);
        s.history = s.history.iter().filter(|r| r.at_ns >= cutoff).copied().collect();
        match s.open_since {
            Some(t) if now.saturating_sub(t) < self.open_ns => false,
            Some(_) => {
                s.open_since = None;
                true
            }
            None => true,
        }
    }

    /// Record an outcome at `now` (the original's `recordRequest` + `shouldOpenCircuit`).
    pub fn record(&self, success: bool, now: u64) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.history.push(Record { at_ns: now, success });
        let cutoff = now.saturating_sub(self.window_ns);
        s.history = s.history.iter().filter(|r| r.at_ns >= cutoff).copied().collect();
        if s.history.len() > OLD_DESIGN_LIMIT {
            s.history = s.history[s.history.len() - OLD_DESIGN_LIMIT..].to_vec();
        }
        let total = s.history.len();
        let failures = s.history.iter().filter(|r| !r.success).count();
        if total >= self.volume_threshold && failures as f64 >= self.failure_rate * total as f64 {
            s.open_since = Some(now);
        }
    }
}

impl Default for OldDesign {
    fn default() -> Self {
        Self::new()
    }
}

// ---- CPU pinning ------------------------------------------------------------------------------

static ALLOWED: OnceLock<Vec<usize>> = OnceLock::new();

/// The CPUs this process may run on, read once with `sched_getaffinity` by the first caller.
///
/// Call it first thing in `main`, before anything pins a thread: a thread's affinity mask is
/// inherited by the threads it spawns, so a set read later from a pinned thread is that one
/// CPU. (The old harness read `core_affinity::get_core_ids()` in workers spawned by a main
/// thread already pinned to CPU 0, so both workers "pinned" to CPU 0 and every two-thread
/// figure measured two threads taking turns on one core.)
pub fn allowed_cpus() -> &'static [usize] {
    ALLOWED.get_or_init(|| {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most
        // size_of::<cpu_set_t>() bytes into it; CPU_ISSET reads within it.
        unsafe {
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    })
}

/// Pin the calling thread to exactly `cpu`; false if the kernel refused.
pub fn pin_to(cpu: usize) -> bool {
    // SAFETY: as in `allowed_cpus`; `cpu` < CPU_SETSIZE is checked by the caller's source (an
    // index into the allowed set).
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Pin the calling thread to the `n`-th allowed CPU (modulo how many there are); the CPU, or
/// None if pinning is not possible here.
pub fn pin(n: usize) -> Option<usize> {
    let cpus = allowed_cpus();
    let cpu = *cpus.get(n % cpus.len().max(1))?;
    pin_to(cpu).then_some(cpu)
}

/// The CPU the calling thread is running on now (`sched_getcpu`).
pub fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments; returns -1 on failure.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).ok()
}

/// Where each thread of a multi-thread group actually ran, accumulated over the runs of one
/// bench and printed by [`PinCheck::report`].
#[derive(Default)]
pub struct PinCheck {
    inner: Mutex<PinState>,
}

#[derive(Default)]
struct PinState {
    runs: u64,
    shared_runs: u64,
    per_thread: Vec<(Option<usize>, BTreeSet<usize>)>,
}

impl PinCheck {
    /// A new, empty check.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, threads: &[ThreadRun]) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.runs += 1;
        if s.per_thread.len() < threads.len() {
            s.per_thread.resize(threads.len(), (None, BTreeSet::new()));
        }
        let mut shared = false;
        for (t, r) in threads.iter().enumerate() {
            s.per_thread[t].0 = r.asked;
            s.per_thread[t].1.extend(r.ran_on.iter().copied());
        }
        // Two threads shared a CPU in this run when one CPU appears in two threads' sets.
        let mut owner = std::collections::BTreeMap::new();
        for (t, r) in threads.iter().enumerate() {
            for c in &r.ran_on {
                if let Some(&o) = owner.get(c) {
                    if o != t {
                        shared = true;
                    }
                } else {
                    owner.insert(*c, t);
                }
            }
        }
        if shared {
            s.shared_runs += 1;
        }
    }

    /// How many runs were checked.
    pub fn runs(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).runs
    }

    /// One line per thread (CPU asked for, CPUs it was seen on), then `ok` or a loud warning.
    /// The same text is returned for the report.
    pub fn report(&self, name: &str) -> String {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out =
            format!("pin check [{name}]: allowed CPUs {:?}, {} runs", allowed_cpus(), s.runs);
        for (t, (asked, ran)) in s.per_thread.iter().enumerate() {
            let asked = asked.map_or_else(|| "none (pinning failed)".to_owned(), |c| c.to_string());
            out += &format!("; thread {t} asked CPU {asked}, ran on {ran:?}");
        }
        if s.shared_runs > 0 {
            out += &format!(
                "\n!!!!!!!! WARNING [{name}]: threads shared a CPU in {} of {} runs: those figures \
                 measure threads taking turns on one core, not contention between cores !!!!!!!!",
                s.shared_runs, s.runs
            );
        } else if s.per_thread.len() > 1 {
            out += ": ok, every thread on its own CPU";
        }
        out
    }
}

// ---- multi-thread runner -------------------------------------------------------------------------

/// Calls per stop-flag check in [`run_threads`]: a thread still calling when another finishes
/// overruns by at most this many calls.
pub const CHUNK: u64 = 64;

/// One thread's part of a [`run_threads`] run.
pub struct ThreadRun {
    /// The CPU it was pinned to.
    pub asked: Option<usize>,
    /// The CPUs `sched_getcpu` saw it on (at start, every 1,024 chunks, at the end).
    pub ran_on: Vec<usize>,
    /// Calls it made.
    pub calls: u64,
}

/// The result of [`run_threads`]: calls made while every thread was calling, and that time.
pub struct GroupRun {
    /// From the moment the last thread started to the moment the first one finished.
    pub elapsed: Duration,
    /// Calls by all threads up to the moment each saw the stop flag.
    pub calls: u64,
    /// Per thread.
    pub threads: Vec<ThreadRun>,
}

impl GroupRun {
    /// Wall time per call per thread, in ns (throughput = threads / this).
    pub fn ns_per_call_per_thread(&self) -> f64 {
        self.elapsed.as_nanos() as f64 * self.threads.len() as f64 / self.calls.max(1) as f64
    }

    /// The duration criterion's `iter_custom` wants for `iters` calls per thread.
    pub fn scaled(&self, iters: u64) -> Duration {
        Duration::from_nanos((self.ns_per_call_per_thread() * iters as f64) as u64)
    }
}

/// Run `work(thread, first, count)` in chunks of [`CHUNK`] on `threads` threads, thread `t`
/// pinned to the `t`-th allowed CPU, until one thread has made `calls_per_thread` calls.
///
/// The threads start together: each spins until all have arrived, so none runs alone at the
/// start. The first to finish raises a stop flag that the others check after every chunk, so
/// none runs alone at the end either (recloser's lock is unfair: without this one thread can
/// finish its share early and the other then runs uncontended). Only the span during which all
/// were calling is timed. `pins`, when given, accumulates where each thread ran.
pub fn run_threads<F>(
    threads: usize,
    calls_per_thread: u64,
    pins: Option<&PinCheck>,
    work: F,
) -> GroupRun
where
    F: Fn(usize, u64, u64) + Sync,
{
    let ready = AtomicUsize::new(0);
    let stop = crossbeam_utils::CachePadded::new(AtomicBool::new(false));
    let results: Vec<(Instant, Instant, ThreadRun)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (ready, stop, work) = (&ready, &stop, &work);
                s.spawn(move || {
                    let asked = pin(t);
                    let mut ran_on = Vec::new();
                    ran_on.extend(current_cpu());
                    ready.fetch_add(1, Ordering::AcqRel);
                    while ready.load(Ordering::Acquire) < threads {
                        spin_loop();
                    }
                    let t0 = Instant::now();
                    let mut done = 0_u64;
                    let mut chunks = 0_u32;
                    while done < calls_per_thread && !stop.load(Ordering::Relaxed) {
                        let k = CHUNK.min(calls_per_thread - done);
                        work(t, done, k);
                        done += k;
                        chunks = chunks.wrapping_add(1);
                        if chunks % 1024 == 0 {
                            ran_on.extend(current_cpu());
                        }
                    }
                    let t1 = Instant::now();
                    stop.store(true, Ordering::Relaxed);
                    ran_on.extend(current_cpu());
                    ran_on.sort_unstable();
                    ran_on.dedup();
                    (t0, t1, ThreadRun { asked, ran_on, calls: done })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench thread panicked")).collect()
    });
    let start = results.iter().map(|r| r.0).max().expect("at least one thread");
    let end = results.iter().map(|r| r.1).min().expect("at least one thread");
    let calls = results.iter().map(|r| r.2.calls).sum();
    let threads: Vec<ThreadRun> = results.into_iter().map(|r| r.2).collect();
    if let Some(p) = pins {
        p.add(&threads);
    }
    GroupRun { elapsed: end.saturating_duration_since(start), calls, threads }
}

/// The CPU model from `/proc/cpuinfo` (`model name`), or "unknown".
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if readable.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn run(asked: usize, ran: &[usize]) -> ThreadRun {
        ThreadRun { asked: Some(asked), ran_on: ran.to_vec(), calls: 1 }
    }

    #[test]
    fn pin_check_warns_when_two_threads_shared_a_cpu() {
        let p = PinCheck::new();
        p.add(&[run(0, &[0]), run(1, &[1])]);
        assert!(p.report("x").ends_with("ok, every thread on its own CPU"), "{}", p.report("x"));
        p.add(&[run(0, &[0]), run(1, &[0])]);
        let text = p.report("x");
        assert!(text.contains("WARNING [x]: threads shared a CPU in 1 of 2 runs"), "{text}");
    }

    #[test]
    fn pin_check_sees_one_thread_alone_as_not_shared() {
        let p = PinCheck::new();
        p.add(&[run(0, &[0, 1])]);
        assert!(!p.report("x").contains("WARNING"));
    }

    #[test]
    fn allowed_set_is_read_before_pinning_and_workers_get_distinct_cpus() {
        let cpus = allowed_cpus().to_vec();
        assert!(!cpus.is_empty(), "sched_getaffinity gave no CPUs");
        // Pinning this thread afterwards does not shrink the set the workers use.
        assert!(pin(0).is_some());
        assert_eq!(allowed_cpus(), cpus.as_slice());
        let p = PinCheck::new();
        let r = run_threads(2, 10_000, Some(&p), |_, _, _| {});
        let asked: Vec<_> = r.threads.iter().map(|t| t.asked).collect();
        if cpus.len() >= 2 {
            assert_ne!(asked[0], asked[1], "two workers pinned to one CPU: {asked:?}");
            assert!(!p.report("t").contains("WARNING"), "{}", p.report("t"));
        } else {
            assert!(p.report("t").contains("WARNING"), "{}", p.report("t"));
        }
    }

    #[test]
    fn a_group_stops_when_the_first_thread_finishes() {
        // Thread 1 is slow: it must stop soon after thread 0 is done, not finish its share.
        let n = 64 * 1_000;
        let count = [AtomicU64::new(0), AtomicU64::new(0)];
        let r = run_threads(2, n, None, |t, _, k| {
            if t == 1 {
                thread::sleep(Duration::from_micros(200));
            }
            count[t].fetch_add(k, Ordering::Relaxed);
        });
        let (fast, slow) = (r.threads[0].calls, r.threads[1].calls);
        assert_eq!(fast, n, "the fast thread finishes its share");
        assert!(slow < n / 2, "the slow thread stopped early: {slow} of {n}");
        assert_eq!(r.calls, fast + slow);
        assert_eq!(count[1].load(Ordering::Relaxed), slow);
    }
}
