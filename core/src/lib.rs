//! A circuit breaker whose hot path is a handful of atomic instructions.
//!
//! `ringbreaker` keeps a fixed, time-bucketed ring of atomic success / failure / slow-call
//! counters and a Closed / Open / HalfOpen state machine with three manual modes (ForcedOpen,
//! Disabled, MetricsOnly). It is `#![no_std]`, lock-free on every call path, allocation-free
//! after construction, and never reads a clock: time is a `u64` of nanoseconds passed in by the
//! caller, so the same breaker runs live, in a backtest at simulated time, and in tests.
//!
//! ```
//! use ringbreaker::{CircuitBreaker, Config, Outcome, State};
//!
//! let cfg = Config::builder().window_ns(10_000_000_000).buckets(10).failure_rate(0.5)
//!     .minimum_calls(4).open_ns(5_000_000_000).half_open_permits(1).build()?;
//! let b = CircuitBreaker::new(cfg);
//! for t in 0..4 {
//!     let permit = b.try_acquire(t).expect("closed");
//!     b.record(permit, if t % 2 == 0 { Outcome::Success } else { Outcome::Failure }, t);
//! }
//! assert_eq!(b.state(10), State::Open);          // 2 of 4 failed: 50 % trips it
//! assert!(b.try_acquire(10).is_err());            // rejected while open
//! let trial = b.try_acquire(5_000_000_010).unwrap(); // open duration over: a trial
//! let t = b.record(trial, Outcome::Success, 5_000_000_011).unwrap();
//! assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
//! # Ok::<(), ringbreaker::ConfigError>(())
//! ```
//!
//! # Semantics
//!
//! * A record at time `t` belongs to period `t / (window_ns / buckets)`; the window at `now` is
//!   the `buckets` most recent periods up to `now`'s. `calls = successes + failures`; an
//!   `Ignored` outcome is not a call; a slow call is also a success or a failure.
//! * Closed → Open is decided when a failure or a slow call is recorded: over the window,
//!   `calls >= minimum_calls` and `failures >= failure_rate * calls` or
//!   `slow_calls >= slow_call_rate * calls` (slow-call detection on); or `consecutive_failures`
//!   failures in a row. A plain success is one counter update and never trips.
//! * Open → HalfOpen lazily, on the first `try_acquire` at or after `opened_at + open_ns`.
//! * HalfOpen admits `half_open_permits` trials. That many successes → Closed with a fresh window
//!   and `open_ns` reset; a failed or slow trial → Open with the open duration multiplied by
//!   `backoff_multiplier` (rounded up; capped at `max_open_ns`, no cap by default).
//! * Half-open leases: each trial permit is a lease that starts when it is issued. Once every
//!   trial permit is out, not all have reported, and the newest has been out for
//!   `half_open_timeout_ns` (default one window), the next `try_acquire` re-opens the breaker;
//!   the lapse counts as a failed trial (the open duration grows). A trial issued a moment ago
//!   never lapses, however long ago HalfOpen began. An `Ignored` trial hands its permit back.
//! * Single use: a [`Permit`] is consumed by `record`. A half-open trial permit is single-use
//!   in the core itself — a second record of it (from its [`RawPermit`]) changes nothing and
//!   [`try_record`](Breaker::try_record) says so with [`RecordError::AlreadyRecorded`]. A
//!   Closed-state permit carries no per-permit state in the core: Rust's move, C's consumed
//!   mark and Python's `Permit` object refuse its second record; a copied `RawPermit` recorded
//!   twice counts twice.
//! * Every rejection says when to retry ([`Rejected::retry_after_ns`], also
//!   [`Breaker::retry_after`]): the end of the open period for Open, the earliest lapse of the
//!   newest lease for a full HalfOpen, none for ForcedOpen.
//! * `state(now)` and `snapshot(now).state` both give the state the next `try_acquire` at
//!   `now` finds: an elapsed Open reads HalfOpen, a lapsed full HalfOpen reads Open.
//! * Manual operations (`trip`, `force_open`, `disable`, `metrics_only`, `reset`) set the open
//!   duration back to `open_ns`. `reset` of a Closed breaker clears its window: a Closed →
//!   Closed transition with reason `Reset`. `trip` from Open or ForcedOpen, and each manual
//!   state from itself, change nothing.
//! * Every transition bumps the generation; an outcome whose permit is from an older generation
//!   is counted as `stale` and changes nothing else. The window is exact after any number of
//!   transitions.
//! * Transitions are returned, as a [`Transition`], to the one call that made them.
//!
//! The executable form of these rules is the reference model in the workspace's `spec/` crate,
//! which the Rust API, the C ABI and the Python API are checked against.
//!
//! # Invariants
//!
//! The loom models in `loom-tests/` and comments in the code refer to these labels.
//!
//! * **W1** a record is counted exactly once, in the bucket of the period it was made in (or a
//!   later one when clocks of two threads disagree), never lost to a concurrent rotation.
//! * **W2** a snapshot never includes counts from a period older than the window.
//! * **W3** counts never wrap or spill into a neighbour field; a counter at its limit saturates.
//! * **W4** no generation reads an older generation's counts as its own, however many
//!   transitions separate them (stamp aliasing is retired before a window starts).
//! * **T1** each transition is won by exactly one thread, which alone receives the `Transition`.
//! * **T2** trial permits issued in one HalfOpen generation ≤ `half_open_permits` at once.
//! * **T3** from Open, once the duration has passed, some `try_acquire` succeeds (no wedge).
//! * **T4** outcomes from an older generation never change the current state or window.
//! * **T5** (leases) a trial lapses only after it has been out for `half_open_timeout_ns`.
//! * **T6** (single use) one half-open trial permit changes the trial count at most once.
//!
//! # Owning a breaker
//!
//! * [`CircuitBreaker`] (feature `alloc`): heap, any bucket count, one allocation.
//! * [`StaticBreaker<N>`]: inline ring, `const fn` construction, for `static`s in firmware.
//! * [`Breaker::place`]: in a buffer you provide (stack, shared memory).
//!
//! # Concurrency
//!
//! Acquiring in Closed is one load; recording is a compare-and-swap on a bucket word that
//! carries its own period and generation stamp (see the `window` module docs), so bucket
//! rotation needs no lock and an outcome racing a transition can never leak into the next
//! generation's window. Transitions are claimed by one CAS on the state word, which alone
//! decides the winner; the winner then publishes the entry time with two stores, during which
//! other transitions (never calls) wait. The invariants are checked by loom models in
//! `loom-tests/`.
//!
//! Limits of the packed words: permits carry a 32-bit generation; bucket stamps hold 16 bits of
//! the generation and of the period, so threads' clocks may disagree by at most 65,535 bucket
//! widths, and a snapshot taken outside Closed/MetricsOnly shows the last window only while
//! fewer than 65,536 transitions separate them. Counts saturate at `u32::MAX` per bucket. A
//! HalfOpen generation issues at most 1,023 trial permits, hand-backs included; after that it
//! admits no more until a trial reports or the newest lease lapses.
//!
//! # Firmware
//!
//! Use `default-features = false`. On targets without 64-bit atomics (e.g.
//! `thumbv7em-none-eabihf`) the crate takes `portable-atomic` automatically, whose default
//! fallback is a spinlock; on a single-core MCU where a breaker is also touched from interrupt
//! handlers, enable `portable-atomic`'s `critical-section` (and provide an implementation) or
//! `unsafe-assume-single-core` feature in your own manifest.
//!
//! # Features
//!
//! * `std` (default): [`now_ns`], [`Breaker::call`], [`Breaker::call_async`],
//!   [`Breaker::acquire`]'s [`PermitGuard`]. Implies `alloc`.
//! * `alloc`: [`CircuitBreaker`].
//! * `metrics` (std): `MetricsReporter`, which publishes a breaker's snapshot, call durations
//!   and transitions through the [`metrics`](https://docs.rs/metrics) facade under the names
//!   Resilience4j's Micrometer binding uses. Only when the user calls it: nothing on the
//!   breaker's own paths changes.
//! * `defmt`: `defmt::Format` for the public value types ([`State`], [`Outcome`], [`Reason`],
//!   [`Transition`], [`PermitKind`], [`RawPermit`], [`Permit`], [`Rejected`], [`RecordError`],
//!   [`Metrics`], [`ConfigError`], [`PlaceError`]), for firmware that logs with defmt. Works
//!   with `default-features = false`.
//! * `loom`: used only by `loom-tests/` with `--cfg ringbreaker_loom`.

#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod breaker;
mod config;
mod fastdiv;
mod placement;
mod state;
mod sync;
mod types;
mod window;

#[cfg(feature = "std")]
mod asynk;
#[cfg(feature = "alloc")]
mod boxed;
#[cfg(feature = "std")]
mod clock;
#[cfg(feature = "defmt")]
mod defmt_impls;
#[cfg(feature = "std")]
mod guard;
#[cfg(feature = "metrics")]
mod reporter;
#[cfg(all(feature = "std", unix))]
pub mod shared;

pub use breaker::{Breaker, StaticBreaker};
pub use config::{
    Config, ConfigBuilder, ConfigError, DEFAULT_BUCKETS, DEFAULT_FAILURE_RATE,
    DEFAULT_HALF_OPEN_PERMITS, DEFAULT_MINIMUM_CALLS, DEFAULT_OPEN_NS, DEFAULT_SLOW_CALL_RATE,
    DEFAULT_STRIPES, DEFAULT_WINDOW_NS, MAX_BUCKETS, MAX_HALF_OPEN_PERMITS, MAX_RING_SLOTS,
    MAX_STRIPES,
};
pub use placement::PlaceError;
pub use state::State;
pub use types::{
    Metrics, Outcome, Permit, PermitKind, RawPermit, Reason, RecordError, Rejected, Transition,
};
pub use window::Bucket;

#[cfg(feature = "alloc")]
pub use boxed::CircuitBreaker;
#[cfg(feature = "std")]
pub use clock::{
    COARSE_BUCKETS_PER_TICK, coarse_clock_serves, coarse_resolution_ns, now_ns, now_ns_coarse,
};
#[cfg(feature = "std")]
pub use guard::{CallError, PermitGuard};
#[cfg(feature = "metrics")]
pub use reporter::MetricsReporter;
#[cfg(all(feature = "std", unix))]
pub use shared::{SharedBreaker, SharedError, SharedOptions};

/// Compile-time proof, in every build (including the embedded one), that a breaker can be a
/// `static` built by `const fn` from a configuration validated at compile time.
#[cfg(not(ringbreaker_loom))]
mod const_construction {
    use super::{Config, StaticBreaker};

    const CFG: Config = match Config::builder().window_ns(1_000_000_000).buckets(4).build() {
        Ok(c) => c,
        Err(_) => panic!("invalid configuration"),
    };

    #[used]
    static FIRMWARE_STYLE: StaticBreaker<4> = match StaticBreaker::new(CFG) {
        Ok(b) => b,
        Err(_) => panic!("bucket count mismatch"),
    };
}

/// The README's examples, compiled and run as doc tests — natively, not under miri: the
/// shared-memory example maps a file, which miri cannot do (the core's own doc tests, unit
/// and property tests still run under miri).
#[cfg(all(doctest, not(miri)))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
