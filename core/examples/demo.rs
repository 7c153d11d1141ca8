//! A breaker tripping under injected failures, rejecting, half-opening and closing, at
//! simulated time. Run with `make demo` (or `cargo run -p ringbreaker --example demo`).

use ringbreaker::{CircuitBreaker, Config, Outcome, Transition};

const MS: u64 = 1_000_000;

fn show(t: Option<Transition>) {
    if let Some(t) = t {
        println!(
            "  t={:>7.3}s  {:>9} -> {:<9} gen {:<3} reason {}",
            t.at as f64 / 1e9,
            t.from.as_str(),
            t.to.as_str(),
            t.generation,
            t.reason
        );
    }
}

fn main() -> Result<(), ringbreaker::ConfigError> {
    let cfg = Config::builder()
        .window_ns(1_000 * MS)
        .buckets(10)
        .failure_rate(0.5)
        .minimum_calls(10)
        .open_ns(500 * MS)
        .max_open_ns(2_000 * MS)
        .backoff_multiplier(2.0)
        .half_open_permits(2)
        .build()?;
    let b = CircuitBreaker::new(cfg);
    println!(
        "ringbreaker demo: 1 s window in 10 buckets, trips at 50 % of >= 10 calls; open 0.5 s doubling to 2 s; 2 trials\n"
    );

    // Phase 1: a healthy dependency, then one that fails 9 calls in 10 from t = 1 s to t = 3 s.
    let (mut rejected, mut now) = (0u32, 0u64);
    for i in 0..1000u64 {
        now = i * 5 * MS;
        let failing = now >= 1_000 * MS;
        let trial_fails = now < 3_000 * MS; // the dependency recovers at t = 3 s
        match b.try_acquire(now) {
            Ok(permit) => {
                show(permit.transition());
                let trial = permit.kind() == ringbreaker::PermitKind::Trial;
                let fail =
                    if trial { trial_fails } else { failing && now < 3_000 * MS && i % 10 != 0 };
                let outcome = if fail { Outcome::Failure } else { Outcome::Success };
                show(b.record(permit, outcome, now + MS));
            }
            Err(r) => {
                rejected += 1;
                show(r.transition);
            }
        }
    }
    let m = b.snapshot(now);
    println!(
        "\nend: state {}, {} calls in window ({} failed), {} rejected while open, generation {}",
        m.state, m.calls, m.failures, rejected, m.generation
    );
    Ok(())
}
