//! One hot path alone, for counting instructions under callgrind: `make bench-callgrind` runs
//! each mode at two call counts and prints the difference per call, which is independent of
//! machine load. The loops are `ringbreaker_benches::work`, the ones the benches time.
//!
//! Usage: `hotpath CALLS [MODE]`, MODE one of `still` (default: acquire + record(success) at
//! caller time, 1 ns a call), `rotate_1us`, `rotate_every_call`, `c_abi` (the same through the
//! C entry points), `clock` (with one default clock read a call), `call`, `rejected`,
//! `fetch_add` (the floor).
#![allow(clippy::std_instead_of_core)]

use std::sync::atomic::AtomicU64;

use ringbreaker::{CircuitBreaker, Config};
use ringbreaker_benches::work::{self, STEP_REALISTIC, STEP_STILL, STEP_WORST};
use ringbreaker_ffi::{rb_breaker_free, rb_breaker_new, rb_config_default, rb_status};

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let mode = args.next().unwrap_or_else(|| "still".to_owned());
    let cb = CircuitBreaker::new(Config::default());
    match mode.as_str() {
        "still" => {
            let _ = work::acquire_record(&cb, 1, STEP_STILL, calls);
        }
        "rotate_1us" => {
            let _ = work::acquire_record(&cb, 1, STEP_REALISTIC, calls);
        }
        "rotate_every_call" => {
            let _ = work::acquire_record(&cb, 1, STEP_WORST, calls);
        }
        "clock" => work::acquire_record_clock(&cb, calls),
        "call" => work::call(&cb, calls),
        "rejected" => {
            cb.trip(1);
            work::rejected(&cb, 2, calls);
        }
        "fetch_add" => work::floor_fetch_add(&AtomicU64::new(0), calls),
        "c_abi" => {
            let cfg = rb_config_default();
            let mut b = core::ptr::null_mut();
            // SAFETY: valid locals.
            assert!(unsafe { rb_breaker_new(&cfg, &mut b) } == rb_status::RB_OK);
            // SAFETY: `b` is live until freed below.
            let _ = unsafe { work::ffi_acquire_record(b, 1, STEP_STILL, calls) };
            // SAFETY: from rb_breaker_new, freed once.
            unsafe { rb_breaker_free(b) };
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
