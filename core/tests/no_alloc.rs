//! Zero heap allocations after construction: 1,000,000 acquire/record cycles through trips,
//! rejections, half-open trials, recoveries and manual operations, counted by a global
//! allocator that counts every allocation made by this test's thread.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use std::alloc::System;

use ringbreaker::{CircuitBreaker, Config, Outcome, State};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates to `System`; the counter is a thread-local `Cell` with a const initialiser,
// so touching it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn a_million_cycles_allocate_nothing() {
    let cfg = Config::builder()
        .window_ns(1_000_000)
        .buckets(10)
        .minimum_calls(10)
        .open_ns(50_000)
        .backoff_multiplier(2.0)
        .max_open_ns(400_000)
        .half_open_permits(2)
        .slow_call_ns(900)
        .consecutive_failures(25)
        .build()
        .unwrap();
    let b = CircuitBreaker::new(cfg);
    let _ = b.snapshot(0); // any lazy first-use work happens before counting
    let before = allocs();
    let mut states = [0u64; 6];
    let mut transitions = 0u64;
    // Miri interprets ~10,000x slower: it checks the same paths over fewer cycles.
    let cycles: u64 = if cfg!(miri) { 20_000 } else { 1_000_000 };
    // time runs so that the whole run spans 100 windows, whatever the cycle count
    let (step, phase) = (100_000_000 / cycles, cycles / 50);
    for i in 0..cycles {
        let now = i * step;
        // fail in bursts so the breaker keeps tripping and recovering
        let failing = (i / phase) % 2 == 1; // two windows healthy, two failing
        match b.try_acquire(now) {
            Ok(p) => {
                transitions += u64::from(p.transition().is_some());
                let outcome =
                    if failing && i % 10 != 0 { Outcome::Failure } else { Outcome::Success };
                transitions += u64::from(b.record_timed(p, outcome, i % 1_000, now).is_some());
            }
            Err(r) => transitions += u64::from(r.transition.is_some()),
        }
        if i % (cycles / 10) == 0 {
            b.force_open(now);
            b.reset(now);
            b.metrics_only(now);
            b.reset(now);
        }
        states[b.state(now) as usize] += 1;
        if i % 1_000 == 0 {
            let _ = b.snapshot(now);
        }
    }
    let after = allocs();
    assert_eq!(after - before, 0, "heap allocations after construction");
    // the run must actually have exercised trips and recoveries
    assert!(transitions > cycles / 10_000, "only {transitions} transitions");
    assert!(states[State::Open as usize] > 0 && states[State::Closed as usize] > 0);
}
