//! Shared pieces of the benchmarks: the rebuilt old design, the two-thread runner, and the
//! workloads the criterion benches and the footprint binary both drive.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

/// Pin the current thread to core `n` (modulo the cores there are); false if pinning is not
/// possible here.
pub fn pin(n: usize) -> bool {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => core_affinity::set_for_current(ids[n % ids.len()]),
        _ => false,
    }
}

/// Run `work(thread_index, iters)` on two threads pinned to separate cores, started together;
/// the wall time from the start to the last one finishing.
pub fn two_threads<F>(iters: u64, work: F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        for t in 0..2 {
            let (barrier, work) = (&barrier, &work);
            s.spawn(move || {
                pin(t);
                barrier.wait();
                work(t, iters);
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins both workers before it returns.
        start
    })
    .elapsed()
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if readable.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
