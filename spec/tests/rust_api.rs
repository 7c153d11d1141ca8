//! The Rust API against the reference model: seeded sequences (2,000 by default,
//! `SPEC_SEQUENCES` for more) and the long runs.

use ringbreaker_spec::rust_door::RustApi;
use ringbreaker_spec::seq::{self, Door};
use ringbreaker_spec::{check_door, report, run, sequences};

#[test]
fn rust_api_matches_the_model() {
    check_door::<RustApi>("Rust API", 0, sequences(2000), Door::Native);
}

#[test]
fn rust_api_long_runs_match_the_model() {
    for (i, (p, ops)) in seq::long_runs().into_iter().enumerate() {
        if run::<RustApi>(&p, &ops).is_some() {
            panic!("{}", report::<RustApi>("Rust API (long run)", i as u64, &p, &ops));
        }
    }
}
