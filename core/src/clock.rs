//! The default monotonic clock (`std` only), precise and coarse.
//!
//! The core never reads a clock; this one serves the convenience methods (`call`, `acquire`,
//! `call_async`) and callers who have no clock of their own.
//!
//! [`now_ns`] is CLOCK_MONOTONIC (on Linux read directly through the vDSO; elsewhere
//! `std::time::Instant`), ~20–25 ns a read. It times slow calls: a millisecond-granular clock
//! would make any `slow_call_ns` below a few milliseconds meaningless.
//!
//! [`now_ns_coarse`] is CLOCK_MONOTONIC_COARSE on Linux: the same clock as of its last tick
//! (1–4 ms ago, [`coarse_resolution_ns`]), a few nanoseconds a read. It never runs ahead of
//! [`now_ns`] and counts from the same origin. `call`/`acquire` use it for the one timestamp
//! they need when no duration is measured (slow-call detection off) and the permit is a plain
//! Closed/MetricsOnly one, provided a bucket is at least [`COARSE_BUCKETS_PER_TICK`] ticks
//! wide: the record then lands in its bucket or, within the last tick of a bucket, the one
//! before — never outside the window, and never later than the call. Everything that decides a
//! state change from elapsed time (acquires outside Closed, leases, timed records) reads the
//! precise clock. Elsewhere the coarse clock is the precise one.

use std::sync::OnceLock;

/// A bucket must be at least this many coarse-clock ticks wide for `call`/`acquire` to time a
/// plain record with the coarse clock.
pub const COARSE_BUCKETS_PER_TICK: u64 = 64;

// Miri supports neither the coarse clock nor `clock_getres`: it takes the portable version.
#[cfg(all(target_os = "linux", not(miri)))]
mod imp {
    /// `clock`'s reading in nanoseconds.
    #[inline]
    pub(super) fn read(clock: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; both clocks exist on every Linux since
        // 2.6.32, and clock_gettime cannot fail for them with a valid pointer.
        unsafe { libc::clock_gettime(clock, &raw mut ts) };
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
    }

    #[inline]
    pub(super) fn precise() -> u64 {
        read(libc::CLOCK_MONOTONIC)
    }

    #[inline]
    pub(super) fn coarse() -> u64 {
        read(libc::CLOCK_MONOTONIC_COARSE)
    }

    pub(super) fn coarse_resolution() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: as above.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &raw mut ts) };
        if rc != 0 {
            return u64::MAX;
        }
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64).max(1)
    }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
mod imp {
    use std::sync::OnceLock;
    use std::time::Instant;

    static BASE: OnceLock<Instant> = OnceLock::new();

    #[inline]
    pub(super) fn precise() -> u64 {
        let base = *BASE.get_or_init(Instant::now);
        u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    #[inline]
    pub(super) fn coarse() -> u64 {
        precise()
    }

    pub(super) fn coarse_resolution() -> u64 {
        1
    }
}

static ORIGIN: OnceLock<u64> = OnceLock::new();
static COARSE_RES: OnceLock<u64> = OnceLock::new();

#[inline]
fn origin() -> u64 {
    *ORIGIN.get_or_init(imp::precise)
}

/// Nanoseconds on the process's monotonic clock, counted from the first read in this process.
/// Never goes backwards; saturates after 584 years.
#[inline]
pub fn now_ns() -> u64 {
    let o = origin();
    imp::precise().saturating_sub(o)
}

/// [`now_ns`] as of the clock's last tick: never ahead of it, behind by less than
/// [`coarse_resolution_ns`], and a few nanoseconds a read instead of ~20. Never goes
/// backwards. (Not Linux: the same as [`now_ns`].)
#[inline]
pub fn now_ns_coarse() -> u64 {
    let o = origin();
    imp::coarse().saturating_sub(o)
}

/// The tick of [`now_ns_coarse`] in nanoseconds (1 where it is the precise clock).
#[inline]
pub fn coarse_resolution_ns() -> u64 {
    *COARSE_RES.get_or_init(imp::coarse_resolution)
}

/// Whether a plain record in a window of `bucket_ns`-wide buckets may be timed with the coarse
/// clock (see the module docs).
#[inline]
pub(crate) fn coarse_fits(bucket_ns: u64) -> bool {
    bucket_ns / COARSE_BUCKETS_PER_TICK >= coarse_resolution_ns()
}

/// Whether a breaker with `cfg` may stamp a plain Closed-state record that needs no duration
/// with [`now_ns_coarse`]: a bucket at least [`COARSE_BUCKETS_PER_TICK`] ticks wide, so the
/// stamp can only move a record into the bucket before its own, and at least two buckets, so
/// that bucket is still in the window read at [`now_ns`]. `call`, `acquire` and the Python
/// binding ask this once per breaker.
#[inline]
pub fn coarse_clock_serves(cfg: &crate::Config) -> bool {
    cfg.buckets() >= 2 && coarse_fits(cfg.bucket_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(
        miri,
        ignore = "miri has no coarse clock (the portable one is the precise clock) and its clock is virtual"
    )]
    #[test]
    fn coarse_never_runs_ahead_and_lags_by_less_than_a_tick() {
        let res = coarse_resolution_ns();
        assert!((1..1_000_000_000).contains(&res), "resolution {res} ns");
        let mut last = 0;
        for _ in 0..10_000 {
            let c = now_ns_coarse();
            let p = now_ns();
            assert!(c <= p, "coarse {c} ahead of precise {p}");
            // `+ res` for the tick itself, the rest for a preemption between the two reads.
            assert!(p - c < res + 50_000_000, "coarse {c} lags precise {p} by more than a tick");
            assert!(c >= last, "coarse went backwards: {last} -> {c}");
            last = c;
        }
    }

    #[test]
    fn the_coarse_clock_serves_two_or_more_wide_buckets_only() {
        let res = coarse_resolution_ns();
        let cfg = |window: u64, buckets: u32| {
            crate::Config::builder().window_ns(window).buckets(buckets).build().unwrap()
        };
        let wide = res * COARSE_BUCKETS_PER_TICK;
        assert!(coarse_clock_serves(&cfg(2 * wide, 2)));
        assert!(!coarse_clock_serves(&cfg(wide, 1)), "one bucket: the bucket before is out");
        if res > 1 {
            assert!(!coarse_clock_serves(&cfg(2 * (wide - 1), 2)));
        }
    }

    #[test]
    fn coarse_fits_only_buckets_many_ticks_wide() {
        let res = coarse_resolution_ns();
        assert!(coarse_fits(res * COARSE_BUCKETS_PER_TICK));
        if res > 1 {
            assert!(!coarse_fits(res * COARSE_BUCKETS_PER_TICK - 1));
        }
        assert!(!coarse_fits(0));
    }
}
