//! The executable specification of ringbreaker (`DESIGN.md`, "One specification, three front
//! doors").
//!
//! * [`model`] — the sequential reference model of the whole contract, the oracle.
//! * [`ops`] — parameters, operations and observations, shared by every front door and
//!   serialised as JSON for the Python one.
//! * [`seq`] — seeded sequences: every knob at its limits, clock steps of 0 and 1 ns, a bucket,
//!   a window and more, permits recorded late, twice and never, long runs of 2^17 transitions,
//!   generations next to their wrap points.
//! * [`run`] — drive one sequence through a [`FrontDoor`] and the model, compare every
//!   observation exactly, and on a difference shrink the sequence to a minimal reproduction.
//!
//! The Rust API's door is [`rust_door::RustApi`]; the C ABI's lives in `ffi-c/tests/spec.rs`;
//! the Python API's in `py/tests/test_spec.py`, fed by the `spec-trace` binary.

pub mod model;
pub mod ops;
pub mod rust_door;
pub mod seq;

use core::fmt::Write as _;

use model::Model;
use ops::{Obs, Op, Params};

/// One front door to a breaker: a fresh breaker per sequence, one operation at a time.
pub trait FrontDoor {
    /// A fresh breaker with these parameters.
    fn new(p: &Params) -> Self;
    /// Apply `op` and report what the caller observes.
    fn apply(&mut self, op: &Op) -> Obs;
}

/// The first difference between a front door and the model.
#[derive(Debug)]
pub struct Divergence {
    /// Index of the operation.
    pub at: usize,
    /// What the model observed.
    pub expected: Obs,
    /// What the front door observed.
    pub actual: Obs,
}

/// Run `ops` through door `D` and the model; the first difference, if any.
pub fn run<D: FrontDoor>(p: &Params, ops: &[Op]) -> Option<Divergence> {
    let mut model = Model::new(p.clone());
    let mut door = D::new(p);
    for (at, op) in ops.iter().enumerate() {
        let expected = model.apply(op);
        let actual = door.apply(op);
        if expected != actual {
            return Some(Divergence { at, expected, actual });
        }
    }
    None
}

/// Remove operations while the sequence still diverges (permit indices are renumbered so the
/// shorter sequence means the same thing), then cut it after the divergence.
pub fn shrink<D: FrontDoor>(p: &Params, ops: &[Op]) -> Vec<Op> {
    let mut ops: Vec<Op> = match run::<D>(p, ops) {
        Some(d) => ops[..=d.at].to_vec(),
        None => return ops.to_vec(),
    };
    let mut chunk = ops.len().div_ceil(2);
    while chunk >= 1 {
        let mut i = 0;
        while i < ops.len() {
            let candidate = without(&ops, i, chunk);
            if let Some(d) = run::<D>(p, &candidate) {
                ops = candidate[..=d.at].to_vec();
            } else {
                i += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    ops
}

/// `ops` without `ops[i..i + n]`, with permit indices renumbered (a record of a removed
/// permit is dropped too).
fn without(ops: &[Op], i: usize, n: usize) -> Vec<Op> {
    let mut out = Vec::with_capacity(ops.len());
    let mut renumber: Vec<Option<usize>> = Vec::new();
    let mut model_permits = 0usize;
    for (j, op) in ops.iter().enumerate() {
        let removed = j >= i && j < i + n;
        match op {
            Op::Acquire { .. } => {
                // Whether this acquire produced a permit is not known here; renumbering by
                // acquire order keeps the mapping exact for the model, which numbers permits
                // by successful acquires. A door that rejects shifts both sides alike.
                renumber.push(if removed { None } else { Some(model_permits) });
                if !removed {
                    model_permits += 1;
                }
            }
            _ if removed => {}
            Op::Record { permit, outcome, duration_ns, now } => {
                if let Some(Some(p)) = renumber.get(*permit) {
                    out.push(Op::Record {
                        permit: *p,
                        outcome: *outcome,
                        duration_ns: *duration_ns,
                        now: *now,
                    });
                }
                continue;
            }
            Op::RecordCopy { permit, outcome, now } => {
                if let Some(Some(p)) = renumber.get(*permit) {
                    out.push(Op::RecordCopy { permit: *p, outcome: *outcome, now: *now });
                }
                continue;
            }
            _ => {}
        }
        if !removed {
            out.push(op.clone());
        }
    }
    out
}

/// A reproduction to paste into a test: the parameters, the operations and both observations.
pub fn report<D: FrontDoor>(door: &str, seed: u64, p: &Params, ops: &[Op]) -> String {
    let small = shrink::<D>(p, ops);
    let mut s = String::new();
    let _ = writeln!(s, "{door} front door differs from the reference model (seed {seed}).");
    let _ = writeln!(s, "minimal reproduction ({} of {} operations):", small.len(), ops.len());
    let _ = writeln!(s, "params = {}", serde_json::to_string(p).unwrap_or_default());
    for op in &small {
        let _ = writeln!(s, "  {}", serde_json::to_string(op).unwrap_or_default());
    }
    if let Some(d) = run::<D>(p, &small) {
        let _ = writeln!(s, "operation {}: model {:?}", d.at, d.expected);
        let _ = writeln!(s, "operation {}: door  {:?}", d.at, d.actual);
    }
    s
}

/// Run `count` seeded sequences (from `first_seed`) and the long runs through door `D`;
/// panics with a minimal reproduction on the first difference.
pub fn check_door<D: FrontDoor>(door: &str, first_seed: u64, count: u64, kind: seq::Door) {
    for seed in first_seed..first_seed + count {
        let mut rng = seq::Rng::new(seed);
        let p = seq::params(&mut rng);
        let len = 20 + rng.below(180) as usize;
        let ops = seq::sequence(&mut rng, &p, len, kind);
        if run::<D>(&p, &ops).is_some() {
            panic!("{}", report::<D>(door, seed, &p, &ops));
        }
    }
}

/// The number of sequences a test runs: `SPEC_SEQUENCES`, or `default`.
pub fn sequences(default: u64) -> u64 {
    std::env::var("SPEC_SEQUENCES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
