//! Breaker configuration: validated once, immutable afterwards.

use core::fmt;
use core::time::Duration;

use crate::fastdiv::FastDiv;

/// Largest bucket count accepted. Bounds the cost of a snapshot (O(buckets)) and keeps the
/// ring of a default-sized breaker within a few cache lines per bucket.
pub const MAX_BUCKETS: u32 = 4096;

/// Largest `half_open_permits` accepted: the trial counters live in 9-bit fields of the state
/// word so that a trial is admitted with a single compare-and-swap, beside the 10-bit slot
/// sequence that makes each trial permit single-use.
pub const MAX_HALF_OPEN_PERMITS: u32 = 511;

/// Largest `stripes` accepted (a power of two).
pub const MAX_STRIPES: u32 = 64;

/// Largest ring accepted: `buckets × stripes` slots of 128 bytes each (8 MiB).
pub const MAX_RING_SLOTS: u32 = 65_536;

/// Default window: 10 s.
pub const DEFAULT_WINDOW_NS: u64 = 10_000_000_000;
/// Default bucket count: 10 (one-second buckets with the default window).
pub const DEFAULT_BUCKETS: u32 = 10;
/// Default failure-rate threshold: 50 %.
pub const DEFAULT_FAILURE_RATE: f64 = 0.5;
/// Default slow-call-rate threshold: 100 % (slow calls alone trip only when every call is slow).
pub const DEFAULT_SLOW_CALL_RATE: f64 = 1.0;
/// Default minimum number of calls in the window before a rate can trip the breaker.
pub const DEFAULT_MINIMUM_CALLS: u32 = 20;
/// Default open duration: 5 s.
pub const DEFAULT_OPEN_NS: u64 = 5_000_000_000;
/// Default number of trial calls admitted in half-open.
pub const DEFAULT_HALF_OPEN_PERMITS: u32 = 1;
/// Default number of window stripes: 1 (one shared ring).
pub const DEFAULT_STRIPES: u32 = 1;

/// A configuration value was rejected. Each variant names the offending field; [`field`]
/// returns that name as the builder (and the C and Python bindings) spell it.
///
/// [`field`]: ConfigError::field
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// `window_ns` is zero.
    ZeroWindow,
    /// `buckets` is zero.
    ZeroBuckets,
    /// `buckets` is above [`MAX_BUCKETS`].
    TooManyBuckets(u32),
    /// `window_ns` is not a whole multiple of `buckets`, so buckets would have unequal widths.
    WindowNotDivisible {
        /// The window in nanoseconds.
        window_ns: u64,
        /// The bucket count.
        buckets: u32,
    },
    /// `failure_rate` is NaN or outside `0.0..=1.0`.
    FailureRate(f64),
    /// `slow_call_rate` is NaN or outside `0.0..=1.0`.
    SlowCallRate(f64),
    /// `slow_call_ns` was given as zero (leave it unset to disable slow-call detection).
    ZeroSlowCallDuration,
    /// `half_open_permits` is zero.
    ZeroHalfOpenPermits,
    /// `half_open_permits` is above [`MAX_HALF_OPEN_PERMITS`].
    TooManyHalfOpenPermits(u32),
    /// `half_open_timeout_ns` was given as zero.
    ZeroHalfOpenTimeout,
    /// `max_open_ns` is below `open_ns`.
    MaxOpenBelowOpen {
        /// The open duration.
        open_ns: u64,
        /// The cap given for it.
        max_open_ns: u64,
    },
    /// `backoff_multiplier` is NaN, infinite, or below 1.0.
    BackoffMultiplier(f64),
    /// A duration given as a [`Duration`] does not fit in `u64` nanoseconds.
    DurationOverflow(&'static str),
    /// A [`StaticBreaker`](crate::StaticBreaker)'s array length differs from `buckets ×
    /// stripes` (its ring slots).
    BucketStorage {
        /// The configured ring slots (`buckets × stripes`).
        buckets: u32,
        /// The array length of the static ring.
        storage: usize,
    },
    /// `stripes` is zero, not a power of two, or above [`MAX_STRIPES`].
    Stripes(u32),
    /// `buckets × stripes` is above [`MAX_RING_SLOTS`].
    RingTooLarge {
        /// The bucket count.
        buckets: u32,
        /// The stripe count.
        stripes: u32,
    },
}

impl ConfigError {
    /// The name of the field that was rejected.
    pub const fn field(&self) -> &'static str {
        match self {
            Self::ZeroWindow | Self::WindowNotDivisible { .. } => "window_ns",
            Self::ZeroBuckets | Self::TooManyBuckets(_) | Self::BucketStorage { .. } => "buckets",
            Self::FailureRate(_) => "failure_rate",
            Self::SlowCallRate(_) => "slow_call_rate",
            Self::ZeroSlowCallDuration => "slow_call_ns",
            Self::ZeroHalfOpenPermits | Self::TooManyHalfOpenPermits(_) => "half_open_permits",
            Self::ZeroHalfOpenTimeout => "half_open_timeout_ns",
            Self::MaxOpenBelowOpen { .. } => "max_open_ns",
            Self::BackoffMultiplier(_) => "backoff_multiplier",
            Self::Stripes(_) | Self::RingTooLarge { .. } => "stripes",
            Self::DurationOverflow(field) => field,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field();
        match *self {
            Self::ZeroWindow => write!(f, "{field} must be greater than zero"),
            Self::ZeroBuckets => write!(f, "{field} must be greater than zero"),
            Self::TooManyBuckets(n) => write!(f, "{field} is {n}, above the maximum {MAX_BUCKETS}"),
            Self::WindowNotDivisible { window_ns, buckets } => {
                write!(f, "{field} ({window_ns}) is not a whole multiple of buckets ({buckets})")
            }
            Self::FailureRate(v) | Self::SlowCallRate(v) => {
                write!(f, "{field} is {v}, expected a number in 0.0..=1.0")
            }
            Self::ZeroSlowCallDuration => {
                write!(f, "{field} must be greater than zero (leave it unset to disable)")
            }
            Self::ZeroHalfOpenPermits => write!(f, "{field} must be at least 1"),
            Self::TooManyHalfOpenPermits(n) => {
                write!(f, "{field} is {n}, above the maximum {MAX_HALF_OPEN_PERMITS}")
            }
            Self::ZeroHalfOpenTimeout => write!(f, "{field} must be greater than zero"),
            Self::MaxOpenBelowOpen { open_ns, max_open_ns } => {
                write!(f, "{field} ({max_open_ns}) is below open_ns ({open_ns})")
            }
            Self::BackoffMultiplier(v) => {
                write!(f, "{field} is {v}, expected a finite number >= 1.0")
            }
            Self::DurationOverflow(_) => {
                write!(f, "{field} does not fit in u64 nanoseconds")
            }
            Self::BucketStorage { buckets, storage } => {
                write!(
                    f,
                    "{field} × stripes is {buckets} but the static ring holds {storage} buckets"
                )
            }
            Self::Stripes(n) => {
                write!(f, "{field} is {n}, expected a power of two in 1..={MAX_STRIPES}")
            }
            Self::RingTooLarge { buckets, stripes } => write!(
                f,
                "{field} ({stripes}) × buckets ({buckets}) is {}, above the maximum {MAX_RING_SLOTS} ring slots",
                buckets as u64 * stripes as u64
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

/// A validated, immutable breaker configuration. Build one with [`Config::builder`].
///
/// Every duration is a `u64` count of nanoseconds on the caller's monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Config {
    pub(crate) window_ns: u64,
    pub(crate) buckets: u32,
    pub(crate) minimum_calls: u32,
    pub(crate) failure_rate: f64,
    pub(crate) slow_call_rate: f64,
    /// 0 = slow-call detection off.
    pub(crate) slow_call_ns: u64,
    /// 0 = consecutive-failure trip off.
    pub(crate) consecutive_failures: u32,
    pub(crate) half_open_permits: u32,
    pub(crate) open_ns: u64,
    pub(crate) max_open_ns: u64,
    pub(crate) backoff_multiplier: f64,
    pub(crate) half_open_timeout_ns: u64,
    pub(crate) width: FastDiv,
    pub(crate) ring: FastDiv,
    /// Window stripes: a power of two; each thread counts in its own stripe's buckets.
    pub(crate) stripes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Config {
    /// The defaults: a 10 s window in 10 buckets, 50 % failure rate over at least 20 calls,
    /// open for 5 s, one half-open trial, no slow-call or consecutive-failure trip.
    pub const DEFAULT: Config = match ConfigBuilder::new().build() {
        Ok(c) => c,
        Err(_) => panic!("the default configuration is valid"),
    };

    /// Start from the defaults.
    pub const fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// The window length in nanoseconds.
    pub const fn window_ns(&self) -> u64 {
        self.window_ns
    }
    /// The number of buckets in the ring.
    pub const fn buckets(&self) -> u32 {
        self.buckets
    }
    /// The width of one bucket in nanoseconds (`window_ns / buckets`).
    pub const fn bucket_ns(&self) -> u64 {
        self.width.divisor()
    }
    /// Calls required in the window before a rate can trip the breaker.
    pub const fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }
    /// Failure-rate threshold in `0.0..=1.0`.
    pub const fn failure_rate(&self) -> f64 {
        self.failure_rate
    }
    /// Slow-call-rate threshold in `0.0..=1.0`.
    pub const fn slow_call_rate(&self) -> f64 {
        self.slow_call_rate
    }
    /// Duration at or above which a timed call counts as slow, if slow-call detection is on.
    pub const fn slow_call_ns(&self) -> Option<u64> {
        if self.slow_call_ns == 0 { None } else { Some(self.slow_call_ns) }
    }
    /// Failures in a row that trip the breaker regardless of rate, if enabled.
    pub const fn consecutive_failures(&self) -> Option<u32> {
        if self.consecutive_failures == 0 { None } else { Some(self.consecutive_failures) }
    }
    /// Trial calls admitted in half-open; that many successes close the breaker.
    pub const fn half_open_permits(&self) -> u32 {
        self.half_open_permits
    }
    /// The first open duration after a trip from closed.
    pub const fn open_ns(&self) -> u64 {
        self.open_ns
    }
    /// The cap on the open duration as it grows by `backoff_multiplier`; `u64::MAX` when none
    /// was given (no cap).
    pub const fn max_open_ns(&self) -> u64 {
        self.max_open_ns
    }
    /// Factor applied to the open duration each time a half-open trial fails.
    pub const fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }
    /// How long the newest half-open trial permit may be out, with every trial permit out and
    /// not all reported, before the next `try_acquire` re-opens the breaker (its lease).
    pub const fn half_open_timeout_ns(&self) -> u64 {
        self.half_open_timeout_ns
    }

    /// How many copies of the ring the window is striped over (1 unless
    /// [`ConfigBuilder::stripes`] set it). Each thread counts in one stripe; totals, rates
    /// and snapshots sum every stripe.
    pub const fn stripes(&self) -> u32 {
        self.stripes
    }
    /// Ring slots: `buckets × stripes`. A [`StaticBreaker`](crate::StaticBreaker)'s array
    /// length, and what [`Breaker::layout`](crate::Breaker::layout) takes.
    pub const fn ring_len(&self) -> u32 {
        self.buckets * self.stripes
    }
    /// Bytes of ring memory one stripe costs: `buckets` cache-padded buckets.
    pub const fn stripe_bytes(&self) -> usize {
        self.buckets as usize * core::mem::size_of::<crate::window::Bucket>()
    }

    /// The open duration that follows `current` after a failed trial.
    ///
    /// `ceil(current × backoff_multiplier)`, at least `current`, at most `max_open_ns`
    /// (`u64::MAX` when no cap was given). Rounding up keeps a multiplier above 1 growing even
    /// a duration of a few nanoseconds.
    pub(crate) fn grown_open_ns(&self, current: u64) -> u64 {
        let product = current as f64 * self.backoff_multiplier;
        // `as` saturates for floats, so a huge product caps at u64::MAX rather than wrapping.
        let truncated = product as u64;
        let grown =
            if (truncated as f64) < product { truncated.saturating_add(1) } else { truncated };
        let grown = if grown < current { current } else { grown };
        if grown > self.max_open_ns { self.max_open_ns } else { grown }
    }
}

/// Builder for [`Config`]. All setters are `const fn`, so a firmware image can validate its
/// configuration at compile time:
///
/// ```
/// use ringbreaker::Config;
/// const CFG: Config = match Config::builder().window_ns(1_000_000_000).buckets(4).build() {
///     Ok(c) => c,
///     Err(_) => panic!("invalid breaker configuration"),
/// };
/// assert_eq!(CFG.bucket_ns(), 250_000_000);
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct ConfigBuilder {
    window_ns: u64,
    buckets: u32,
    minimum_calls: u32,
    failure_rate: f64,
    slow_call_rate: f64,
    slow_call_ns: Option<u64>,
    consecutive_failures: Option<u32>,
    half_open_permits: u32,
    open_ns: u64,
    max_open_ns: Option<u64>,
    backoff_multiplier: f64,
    half_open_timeout_ns: Option<u64>,
    stripes: u32,
    /// The first `Duration` that did not fit in u64 nanoseconds, reported by `build`.
    overflow: Option<&'static str>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// `Duration` → u64 nanoseconds, or `None` on overflow.
const fn duration_ns(d: Duration) -> Option<u64> {
    let ns = d.as_nanos();
    if ns > u64::MAX as u128 { None } else { Some(ns as u64) }
}

impl ConfigBuilder {
    /// A builder holding the defaults.
    pub const fn new() -> Self {
        Self {
            window_ns: DEFAULT_WINDOW_NS,
            buckets: DEFAULT_BUCKETS,
            minimum_calls: DEFAULT_MINIMUM_CALLS,
            failure_rate: DEFAULT_FAILURE_RATE,
            slow_call_rate: DEFAULT_SLOW_CALL_RATE,
            slow_call_ns: None,
            consecutive_failures: None,
            half_open_permits: DEFAULT_HALF_OPEN_PERMITS,
            open_ns: DEFAULT_OPEN_NS,
            max_open_ns: None,
            backoff_multiplier: 1.0,
            half_open_timeout_ns: None,
            stripes: DEFAULT_STRIPES,
            overflow: None,
        }
    }

    const fn record_overflow(mut self, d: Duration, field: &'static str) -> (Self, u64) {
        match duration_ns(d) {
            Some(ns) => (self, ns),
            None => {
                if self.overflow.is_none() {
                    self.overflow = Some(field);
                }
                (self, 0)
            }
        }
    }

    /// Window length in nanoseconds (default 10 s). Must divide evenly into `buckets`.
    pub const fn window_ns(mut self, ns: u64) -> Self {
        self.window_ns = ns;
        self
    }
    /// Window length as a [`Duration`].
    pub const fn window(self, d: Duration) -> Self {
        let (s, ns) = self.record_overflow(d, "window_ns");
        s.window_ns(ns)
    }
    /// Number of buckets in the ring (default 10).
    pub const fn buckets(mut self, n: u32) -> Self {
        self.buckets = n;
        self
    }
    /// Calls required in the window before a rate can trip (default 20).
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }
    /// Failure-rate threshold in `0.0..=1.0` (default 0.5).
    pub const fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate;
        self
    }
    /// Slow-call-rate threshold in `0.0..=1.0` (default 1.0).
    pub const fn slow_call_rate(mut self, rate: f64) -> Self {
        self.slow_call_rate = rate;
        self
    }
    /// Turn on slow-call detection: a timed call lasting at least `ns` counts as slow.
    pub const fn slow_call_ns(mut self, ns: u64) -> Self {
        self.slow_call_ns = Some(ns);
        self
    }
    /// [`slow_call_ns`](Self::slow_call_ns) as a [`Duration`].
    pub const fn slow_call(self, d: Duration) -> Self {
        let (s, ns) = self.record_overflow(d, "slow_call_ns");
        s.slow_call_ns(ns)
    }
    /// Trip after this many failures in a row, whatever the rate (default: off).
    pub const fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = if n == 0 { None } else { Some(n) };
        self
    }
    /// Trial calls admitted in half-open (default 1, at most [`MAX_HALF_OPEN_PERMITS`]).
    pub const fn half_open_permits(mut self, n: u32) -> Self {
        self.half_open_permits = n;
        self
    }
    /// Open duration after a trip from closed (default 5 s).
    pub const fn open_ns(mut self, ns: u64) -> Self {
        self.open_ns = ns;
        self
    }
    /// [`open_ns`](Self::open_ns) as a [`Duration`].
    pub const fn open(self, d: Duration) -> Self {
        let (s, ns) = self.record_overflow(d, "open_ns");
        s.open_ns(ns)
    }
    /// Cap on the open duration as it grows by `backoff_multiplier` (default: no cap; the
    /// duration then grows, saturating, up to `u64::MAX` nanoseconds).
    pub const fn max_open_ns(mut self, ns: u64) -> Self {
        self.max_open_ns = Some(ns);
        self
    }
    /// [`max_open_ns`](Self::max_open_ns) as a [`Duration`].
    pub const fn max_open(self, d: Duration) -> Self {
        let (s, ns) = self.record_overflow(d, "max_open_ns");
        s.max_open_ns(ns)
    }
    /// Factor the open duration grows by after each failed trial (default 1.0).
    pub const fn backoff_multiplier(mut self, m: f64) -> Self {
        self.backoff_multiplier = m;
        self
    }
    /// A half-open trial permit's lease (default: one window): once every trial permit is out
    /// and not all have reported, the breaker re-opens at the first `try_acquire` at or after
    /// the newest permit's issue time plus this. A trial issued a moment ago never lapses.
    pub const fn half_open_timeout_ns(mut self, ns: u64) -> Self {
        self.half_open_timeout_ns = Some(ns);
        self
    }
    /// [`half_open_timeout_ns`](Self::half_open_timeout_ns) as a [`Duration`].
    pub const fn half_open_timeout(self, d: Duration) -> Self {
        let (s, ns) = self.record_overflow(d, "half_open_timeout_ns");
        s.half_open_timeout_ns(ns)
    }

    /// Stripe the window over `n` copies of the ring (default 1; a power of two up to
    /// [`MAX_STRIPES`]). Each thread counts in its own stripe, so threads recording on one
    /// breaker stop contending for one cache line per bucket. Totals, rates and snapshots sum
    /// every stripe and stay exact: each record is counted once, in one stripe. The cost:
    /// [`Config::stripe_bytes`] more memory per stripe, and a snapshot or trip decision reads
    /// `stripes` times as many buckets. (Rejections are spread over the ring's lines whatever
    /// the stripes.)
    pub const fn stripes(mut self, n: u32) -> Self {
        self.stripes = n;
        self
    }

    /// Validate into a [`Config`]. Fields are checked in declaration order and the first
    /// problem is returned.
    pub const fn build(self) -> Result<Config, ConfigError> {
        if let Some(field) = self.overflow {
            return Err(ConfigError::DurationOverflow(field));
        }
        if self.window_ns == 0 {
            return Err(ConfigError::ZeroWindow);
        }
        if self.buckets == 0 {
            return Err(ConfigError::ZeroBuckets);
        }
        if self.buckets > MAX_BUCKETS {
            return Err(ConfigError::TooManyBuckets(self.buckets));
        }
        if self.window_ns % self.buckets as u64 != 0 {
            return Err(ConfigError::WindowNotDivisible {
                window_ns: self.window_ns,
                buckets: self.buckets,
            });
        }
        // `!(0.0 <= r && r <= 1.0)` is true for NaN as well as out-of-range values.
        if !(0.0 <= self.failure_rate && self.failure_rate <= 1.0) {
            return Err(ConfigError::FailureRate(self.failure_rate));
        }
        if !(0.0 <= self.slow_call_rate && self.slow_call_rate <= 1.0) {
            return Err(ConfigError::SlowCallRate(self.slow_call_rate));
        }
        let slow_call_ns = match self.slow_call_ns {
            Some(0) => return Err(ConfigError::ZeroSlowCallDuration),
            Some(ns) => ns,
            None => 0,
        };
        if self.half_open_permits == 0 {
            return Err(ConfigError::ZeroHalfOpenPermits);
        }
        if self.half_open_permits > MAX_HALF_OPEN_PERMITS {
            return Err(ConfigError::TooManyHalfOpenPermits(self.half_open_permits));
        }
        let half_open_timeout_ns = match self.half_open_timeout_ns {
            Some(0) => return Err(ConfigError::ZeroHalfOpenTimeout),
            Some(ns) => ns,
            None => self.window_ns,
        };
        let max_open_ns = match self.max_open_ns {
            Some(ns) => ns,
            None => u64::MAX,
        };
        if max_open_ns < self.open_ns {
            return Err(ConfigError::MaxOpenBelowOpen { open_ns: self.open_ns, max_open_ns });
        }
        if !(self.backoff_multiplier >= 1.0 && self.backoff_multiplier < f64::INFINITY) {
            return Err(ConfigError::BackoffMultiplier(self.backoff_multiplier));
        }
        if self.stripes == 0 || self.stripes > MAX_STRIPES || !self.stripes.is_power_of_two() {
            return Err(ConfigError::Stripes(self.stripes));
        }
        if self.buckets as u64 * self.stripes as u64 > MAX_RING_SLOTS as u64 {
            return Err(ConfigError::RingTooLarge { buckets: self.buckets, stripes: self.stripes });
        }
        let width = self.window_ns / self.buckets as u64;
        Ok(Config {
            window_ns: self.window_ns,
            buckets: self.buckets,
            minimum_calls: self.minimum_calls,
            failure_rate: self.failure_rate,
            slow_call_rate: self.slow_call_rate,
            slow_call_ns,
            consecutive_failures: match self.consecutive_failures {
                Some(n) => n,
                None => 0,
            },
            half_open_permits: self.half_open_permits,
            open_ns: self.open_ns,
            max_open_ns,
            backoff_multiplier: self.backoff_multiplier,
            half_open_timeout_ns,
            width: FastDiv::new(width),
            ring: FastDiv::new(self.buckets as u64),
            stripes: self.stripes,
        })
    }
}
