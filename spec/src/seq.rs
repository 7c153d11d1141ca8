//! Seeded operation sequences: every config knob at and near its limits, clock steps of 0,
//! 1 ns, a bucket width, a window and more, permits recorded late, twice and never.

use crate::model::Model;
use crate::ops::{Action, Kind, Obs, Op, Outcome, Params};

/// A small, fast, seedable generator (SplitMix64): sequences are reproducible from a seed
/// alone, in any language that replays the JSON.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    /// True with probability `pct` %.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// Which operations a front door supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// Rust API and C ABI: plain-data permit copies exist.
    Native,
    /// Python: permits are objects; no plain-data copy.
    Python,
}

/// Random parameters: each knob from a list that includes its limits.
pub fn params(rng: &mut Rng) -> Params {
    let buckets = if rng.chance(2) { 4096 } else { rng.pick(&[1u32, 2, 3, 5, 10, 64]) };
    let width = rng.pick(&[1u64, 2, 7, 1_000, 1_000_000, 1_000_000_000]);
    let open_ns = rng.pick(&[0u64, 1, 3, 1_000, 5_000_000_000]);
    Params {
        window_ns: width * u64::from(buckets),
        buckets,
        minimum_calls: rng.pick(&[0u32, 1, 2, 5, 20, u32::MAX]),
        failure_rate: rng.pick(&[0.0, 0.25, 0.5, 1.0]),
        slow_call_rate: rng.pick(&[0.0, 0.5, 1.0]),
        slow_call_ns: rng.pick(&[0u64, 0, 1, 5, 1_000]),
        consecutive_failures: rng.pick(&[0u32, 0, 1, 2, 3]),
        half_open_permits: if rng.chance(3) { 511 } else { rng.pick(&[1u32, 1, 2, 3]) },
        open_ns,
        max_open_ns: rng.pick(&[
            None,
            Some(open_ns),
            Some(open_ns.saturating_mul(4)),
            Some(u64::MAX),
        ]),
        backoff_multiplier: rng.pick(&[1.0, 1.5, 2.0, 10.0]),
        half_open_timeout_ns: rng.pick(&[None, Some(1u64), Some(5), Some(width * 3)]),
    }
}

/// A sequence of `len` operations on `p`, built beside a model so that permits, generations
/// and times are the ones a user would meet.
pub fn sequence(rng: &mut Rng, p: &Params, len: usize, door: Door) -> Vec<Op> {
    let mut model = Model::new(p.clone());
    let mut now: u64 = if rng.chance(20) { 1 << 40 } else { 0 };
    let mut ops = Vec::with_capacity(len);
    let lease = p.lease_ns();
    for _ in 0..len {
        let step = match rng.below(12) {
            0..=3 => 0,
            4 | 5 => 1,
            6 => p.width(),
            7 => p.window_ns,
            8 => p.window_ns + 1,
            9 => p.open_ns,
            10 => lease,
            _ => rng.below(p.window_ns.saturating_mul(2).max(2)),
        };
        now = now.saturating_add(step);
        let outcome = |rng: &mut Rng| {
            rng.pick(&[
                Outcome::Success,
                Outcome::Success,
                Outcome::Failure,
                Outcome::Failure,
                Outcome::Ignored,
            ])
        };
        let op = match rng.below(100) {
            0..=29 => Op::Acquire { now },
            30..=59 if !model.permits.is_empty() => {
                // Mostly the newest unrecorded permit; sometimes an older (late) or recorded one.
                let n = model.permits.len();
                let unrecorded: Vec<usize> =
                    (0..n).filter(|&i| !model.permits[i].recorded).collect();
                let permit = if !unrecorded.is_empty() && rng.chance(85) {
                    if rng.chance(70) {
                        unrecorded[unrecorded.len() - 1]
                    } else {
                        rng.pick(&unrecorded)
                    }
                } else {
                    rng.below(n as u64) as usize
                };
                let duration_ns = if rng.chance(50) {
                    Some(rng.pick(&[0u64, 1, 4, 5, 999, 1_000, 10_000]))
                } else {
                    None
                };
                Op::Record { permit, outcome: outcome(rng), duration_ns, now }
            }
            60..=63 if door == Door::Native && !model.permits.is_empty() => {
                let trials: Vec<usize> = (0..model.permits.len())
                    .filter(|&i| model.permits[i].kind == Kind::Trial)
                    .collect();
                let permit = if !trials.is_empty() && rng.chance(80) {
                    rng.pick(&trials)
                } else {
                    rng.below(model.permits.len() as u64) as usize
                };
                Op::RecordCopy { permit, outcome: outcome(rng), now }
            }
            64 => Op::RecordForeign { now },
            65..=71 => Op::Manual {
                action: rng.pick(&[
                    Action::Trip,
                    Action::ForceOpen,
                    Action::Disable,
                    Action::MetricsOnly,
                    Action::Reset,
                    Action::Reset,
                ]),
                now,
            },
            72 => Op::Cycle { pairs: rng.pick(&[1u32, 2, 127, 128, 300]), now },
            73 => {
                // Next to a wrap point: window stamps alias every 2^16, permits every 2^32.
                let g = model.generation();
                let generation = match rng.below(3) {
                    0 => (g | 0xFFFF).wrapping_sub(rng.below(3) as u32),
                    1 => u32::MAX - rng.below(3) as u32,
                    _ => g.wrapping_add(0x1_0000),
                };
                if generation == g {
                    Op::Snapshot { now }
                } else {
                    Op::SetGeneration { generation, now }
                }
            }
            74..=87 => Op::Snapshot { now },
            88..=93 => Op::State { now },
            _ => Op::RetryAfter { now },
        };
        let _: Obs = model.apply(&op);
        ops.push(op);
    }
    ops
}

/// Long runs: 2^17 transitions inside one bucket period, both ways the issue names, with
/// counts recorded before them that must never reappear.
pub fn long_runs() -> Vec<(Params, Vec<Op>)> {
    let base = Params {
        window_ns: 10_000_000_000,
        buckets: 10,
        minimum_calls: u32::MAX,
        failure_rate: 0.5,
        slow_call_rate: 1.0,
        slow_call_ns: 0,
        consecutive_failures: 0,
        half_open_permits: 1,
        open_ns: 1,
        max_open_ns: None,
        backoff_multiplier: 1.0,
        half_open_timeout_ns: None,
    };
    let mut out = Vec::new();
    // disable/reset pairs at one instant, with a record before and a snapshot after each block.
    let mut ops = Vec::new();
    for block in 0..4u64 {
        let now = 5 + block;
        ops.push(Op::Acquire { now });
        ops.push(Op::Record {
            permit: block as usize,
            outcome: Outcome::Failure,
            duration_ns: None,
            now,
        });
        ops.push(Op::Snapshot { now });
        ops.push(Op::Cycle { pairs: 1 << 15, now });
        ops.push(Op::Snapshot { now });
    }
    out.push((base.clone(), ops));
    // consecutive_failures = 1 with a 1 ns open duration: Closed → Open → HalfOpen → Closed.
    let flap = Params { consecutive_failures: 1, ..base.clone() };
    let mut ops = Vec::new();
    let mut permit = 0usize;
    for (i, mut now) in (0..(1u64 << 16)).zip(10u64..) {
        // Each round: a failure trips (1), a trial half-opens (2) and closes (3): 3 transitions.
        ops.push(Op::Acquire { now });
        ops.push(Op::Record { permit, outcome: Outcome::Failure, duration_ns: None, now });
        permit += 1;
        now += 1;
        ops.push(Op::Acquire { now });
        ops.push(Op::Record { permit, outcome: Outcome::Success, duration_ns: None, now });
        permit += 1;
        if i % 4096 == 0 {
            ops.push(Op::Acquire { now });
            ops.push(Op::Record { permit, outcome: Outcome::Success, duration_ns: None, now });
            permit += 1;
            ops.push(Op::Snapshot { now });
        }
    }
    out.push((flap, ops));
    out
}
