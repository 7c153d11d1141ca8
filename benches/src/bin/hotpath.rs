//! The single-thread hot path alone (acquire + record(success), caller's time), for counting
//! instructions under callgrind: `make bench-callgrind` runs it at two call counts and prints
//! the difference per call, which is independent of machine load.
#![allow(clippy::std_instead_of_core)]

use std::hint::black_box;

use ringbreaker::{CircuitBreaker, Config, Outcome};

fn main() {
    let calls: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let cb = CircuitBreaker::new(Config::default());
    for now in 1..=calls {
        let p = cb.try_acquire(black_box(now)).expect("closed");
        black_box(cb.record(p, Outcome::Success, now));
    }
}
