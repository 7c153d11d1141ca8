//! The default monotonic clock (`std` only).
//!
//! The core never reads a clock; this one serves the convenience methods (`call`, `acquire`)
//! and callers who have no clock of their own.
//!
//! Choice: `std::time::Instant` (CLOCK_MONOTONIC through the vDSO on Linux, ~20–25 ns a read),
//! not a coarse clock (~3 ns, but 1–4 ms resolution). Slow-call detection times individual
//! calls, and a millisecond-granular clock would make any `slow_call_ns` below a few
//! milliseconds meaningless. A caller on a hot loop that already holds a timestamp passes it
//! in and pays for no clock at all.

use std::sync::OnceLock;
use std::time::Instant;

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on the process's monotonic clock, counted from the first read in this process.
/// Never goes backwards; saturates after 584 years.
pub fn now_ns() -> u64 {
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
