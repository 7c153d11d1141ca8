//! Bytes per breaker for the default configuration (ours and the peers'), and resident memory
//! across 100,000,000 calls on one breaker, including one flapping open and closed. Prints
//! `key value` lines for `benches/report.py`.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use ringbreaker::{CircuitBreaker, Config, Outcome, State};
use ringbreaker_benches::{OldDesign, rss_bytes};

/// Counts live heap bytes, so a constructor's allocations can be read off.
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Inline size plus the heap bytes its constructor left allocated.
fn footprint<T>(make: impl FnOnce() -> T) -> (u64, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let v = make();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    (size_of::<T>() as u64 + heap, v)
}

fn main() {
    let calls: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000_000);

    let (ours, cb) = footprint(|| CircuitBreaker::new(Config::default()));
    let (fs_default, _fs) = footprint(|| failsafe::Config::new().build());
    let (rc, _rc) = footprint(recloser::Recloser::default);
    let (old, old_full) = footprint(|| {
        // The old design's list grows to its 1,000-record limit once calls arrive.
        let o = OldDesign::new();
        for i in 0..2_000 {
            o.record(true, i);
        }
        o
    });
    drop(old_full);
    println!("bytes.ringbreaker {ours}");
    println!("bytes.failsafe_default {fs_default}");
    println!("bytes.recloser {rc}");
    println!("bytes.old_design_full {old}");

    // Steady traffic: 100 ns of simulated time a call, so the window rotates through every
    // bucket many times over.
    let flap = CircuitBreaker::new(Config::default());
    let rss0 = rss_bytes().unwrap_or(0);
    let heap0 = LIVE.load(Ordering::Relaxed);
    for i in 0..calls {
        let now = i * 100;
        if let Ok(p) = cb.try_acquire(now) {
            black_box(cb.record(p, Outcome::Success, now));
        }
    }
    let rss1 = rss_bytes().unwrap_or(0);
    // Flapping: bursts of failures trip it, the open duration passes, a trial closes it.
    let (mut now, mut trips) = (0_u64, 0_u64);
    for i in 0..calls {
        now += 100;
        let outcome = if (i / 1_000) % 2 == 0 { Outcome::Failure } else { Outcome::Success };
        match flap.try_acquire(now) {
            Ok(p) => {
                if flap.record(p, outcome, now).is_some_and(|t| t.to == State::Open) {
                    trips += 1;
                    now += Config::default().open_ns(); // wait out the open duration
                }
            }
            Err(_) => now += 1_000,
        }
    }
    let rss2 = rss_bytes().unwrap_or(0);
    let heap2 = LIVE.load(Ordering::Relaxed);
    println!("calls {calls}");
    println!("flap_trips {trips}");
    println!("rss.start {rss0}");
    println!("rss.after_steady {rss1}");
    println!("rss.after_flapping {rss2}");
    println!("heap_growth {}", heap2 as i64 - heap0 as i64);
}
