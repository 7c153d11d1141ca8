//! Writes seeded sequences with the reference model's observations as JSON lines, for front
//! doors in other languages (the Python tests replay them):
//!
//! ```text
//! spec-trace <first-seed> <count> [python|native]   one sequence per line
//! spec-trace --long                                 the long runs
//! spec-trace --expect < {"params":…,"ops":[…]}      the model's observations for given ops
//! ```
//! Each line is `{"seed":…, "params":{…}, "ops":[…], "expected":[…]}`.

use std::io::{BufRead, Write};

use ringbreaker_spec::model::Model;
use ringbreaker_spec::ops::{Obs, Op, Params};
use ringbreaker_spec::seq::{self, Door, Rng};

#[derive(serde::Serialize, serde::Deserialize)]
struct Trace {
    seed: u64,
    params: Params,
    ops: Vec<Op>,
    #[serde(default)]
    expected: Vec<Obs>,
}

fn expect(p: &Params, ops: &[Op]) -> Vec<Obs> {
    let mut m = Model::new(p.clone());
    ops.iter().map(|op| m.apply(op)).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut emit = |t: &Trace| {
        serde_json::to_writer(&mut out, t).expect("stdout");
        out.write_all(b"\n").expect("stdout");
    };
    match args.first().map(String::as_str) {
        Some("--long") => {
            for (i, (params, ops)) in seq::long_runs().into_iter().enumerate() {
                let expected = expect(&params, &ops);
                emit(&Trace { seed: i as u64, params, ops, expected });
            }
        }
        Some("--expect") => {
            for line in std::io::stdin().lock().lines() {
                let mut t: Trace = serde_json::from_str(&line.expect("stdin")).expect("a trace");
                t.expected = expect(&t.params, &t.ops);
                emit(&t);
            }
        }
        _ => {
            let first: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            let count: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
            let door = if args.get(2).map(String::as_str) == Some("native") {
                Door::Native
            } else {
                Door::Python
            };
            for seed in first..first + count {
                let mut rng = Rng::new(seed);
                let params = seq::params(&mut rng);
                let len = 20 + rng.below(180) as usize;
                let ops = seq::sequence(&mut rng, &params, len, door);
                let expected = expect(&params, &ops);
                emit(&Trace { seed, params, ops, expected });
            }
        }
    }
}
