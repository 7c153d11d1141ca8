//! The breaker: state machine over the rolling window.

use crossbeam_utils::CachePadded;

use crate::config::{Config, ConfigError};
use crate::state::{self as word, PENDING, State, Word};
use crate::sync::{self, AtomicU32, AtomicU64, Ordering};
use crate::types::{
    ForeignPermit, Metrics, Outcome, Permit, PermitKind, Reason, Rejected, Transition,
};
use crate::window::{self, Bucket};

/// The state word and the data published with it. One cache line: a reader of the state that
/// needs its entry time finds both in the same line, and they change only on transitions.
#[repr(C)]
pub(crate) struct Head {
    state: AtomicU64,
    /// Caller time at which the current state was entered.
    entered_at: AtomicU64,
    /// Open duration in force: `open_ns`, grown by backoff after failed trials.
    open_ns: AtomicU64,
}

/// Totals written on the reject and stale paths, kept off the state word's line so a storm of
/// rejections does not invalidate every acquirer's copy of the state.
#[repr(C)]
pub(crate) struct Totals {
    rejected: AtomicU64,
    stale: AtomicU64,
}

/// Everything but the ring.
#[repr(C)]
pub(crate) struct Core {
    cfg: Config,
    /// Identity stamped into permits; 0 until assigned.
    id: AtomicU32,
    head: CachePadded<Head>,
    /// Consecutive failures: `generation << 32 | count`.
    streak: CachePadded<AtomicU64>,
    totals: CachePadded<Totals>,
}

macro_rules! core_new {
    ($cfg:expr, $id:expr) => {
        Core {
            id: AtomicU32::new($id),
            head: CachePadded::new(Head {
                state: AtomicU64::new(Word::initial().pack()),
                entered_at: AtomicU64::new(0),
                open_ns: AtomicU64::new($cfg.open_ns),
            }),
            streak: CachePadded::new(AtomicU64::new(0)),
            totals: CachePadded::new(Totals {
                rejected: AtomicU64::new(0),
                stale: AtomicU64::new(0),
            }),
            cfg: $cfg,
        }
    };
}

impl Core {
    #[cfg(not(ringbreaker_loom))]
    pub(crate) const fn new(cfg: Config, id: u32) -> Core {
        core_new!(cfg, id)
    }

    #[cfg(ringbreaker_loom)]
    pub(crate) fn new(cfg: Config, id: u32) -> Core {
        core_new!(cfg, id)
    }
}

/// A fresh process-wide breaker identity (never 0).
pub(crate) fn next_id() -> u32 {
    loop {
        let id = sync::NEXT_BREAKER_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// Byte offset of the ring in a breaker block of `n` buckets (`#[repr(C)]` layout).
fn ring_offset(n: usize) -> usize {
    let head = core::alloc::Layout::new::<Core>();
    let ring =
        core::alloc::Layout::array::<Bucket>(n).unwrap_or(core::alloc::Layout::new::<Bucket>());
    head.extend(ring).map_or(0, |(_, off)| off)
}

/// How a transition sets the open duration.
#[derive(Clone, Copy)]
enum OpenNs {
    /// Back to the configured `open_ns` (a trip from closed, a manual operation).
    Base,
    /// Grown by `backoff_multiplier` up to `max_open_ns` (a failed or lapsed trial).
    Grow,
    /// Unchanged (Open → HalfOpen).
    Keep,
}

/// A circuit breaker: a header followed by its ring of buckets, in one `#[repr(C)]` block with
/// no pointers, so it can live in a `static`, on the stack, in a caller's buffer or in shared
/// memory.
///
/// `Breaker` (with the default parameter) is the unsized form every API method is defined on.
/// Own one as a [`CircuitBreaker`](crate::CircuitBreaker) (heap, any bucket count, needs
/// `alloc`), as a [`StaticBreaker<N>`](StaticBreaker) (inline array, `const fn` construction),
/// or place one in memory you provide with [`Breaker::place`].
///
/// All methods take `&self` and are safe to call from any number of threads.
#[repr(C)]
pub struct Breaker<R: ?Sized = [Bucket]> {
    core: Core,
    ring: R,
}

/// A breaker whose `N` buckets are stored inline; built by a `const fn`, so firmware can
/// declare it as a `static` with no run-time initialisation:
///
/// ```
/// use ringbreaker::{Config, StaticBreaker};
/// const CFG: Config = match Config::builder().window_ns(1_000_000_000).buckets(4).build() {
///     Ok(c) => c,
///     Err(_) => panic!("invalid breaker configuration"),
/// };
/// static BREAKER: StaticBreaker<4> = match StaticBreaker::new(CFG) {
///     Ok(b) => b,
///     Err(_) => panic!("bucket count mismatch"),
/// };
/// let permit = BREAKER.try_acquire(0).unwrap();
/// BREAKER.record(permit, ringbreaker::Outcome::Success, 1);
/// assert_eq!(BREAKER.snapshot(2).successes, 1);
/// ```
pub type StaticBreaker<const N: usize> = Breaker<[Bucket; N]>;

impl<const N: usize> Breaker<[Bucket; N]> {
    /// A breaker with `N` inline buckets. `cfg.buckets()` must equal `N`.
    #[cfg(not(ringbreaker_loom))]
    pub const fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.buckets as usize != N {
            return Err(ConfigError::BucketStorage { buckets: cfg.buckets, storage: N });
        }
        Ok(Breaker { core: Core::new(cfg, 0), ring: [const { Bucket::new() }; N] })
    }

    /// A breaker with `N` inline buckets. `cfg.buckets()` must equal `N`.
    #[cfg(ringbreaker_loom)]
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.buckets as usize != N {
            return Err(ConfigError::BucketStorage { buckets: cfg.buckets, storage: N });
        }
        Ok(Breaker { core: Core::new(cfg, 0), ring: core::array::from_fn(|_| Bucket::new()) })
    }
}

impl<const N: usize> core::ops::Deref for Breaker<[Bucket; N]> {
    type Target = Breaker;
    fn deref(&self) -> &Breaker {
        self
    }
}

impl core::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let w = Word::unpack(self.core.head.state.load(Ordering::Acquire));
        f.debug_struct("Breaker")
            .field("state", &w.state)
            .field("generation", &w.gen_)
            .field("buckets", &self.ring.len())
            .finish_non_exhaustive()
    }
}

impl<const N: usize> core::fmt::Debug for Breaker<[Bucket; N]> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

impl Breaker {
    /// The configuration this breaker was built with.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// This breaker's identity, as stamped into its permits.
    #[inline]
    pub fn id(&self) -> u32 {
        match self.core.id.load(Ordering::Relaxed) {
            0 => self.assign_id(),
            id => id,
        }
    }

    #[cold]
    fn assign_id(&self) -> u32 {
        let id = next_id();
        match self.core.id.compare_exchange(0, id, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => id,
            Err(existing) => existing,
        }
    }

    #[inline]
    fn load(&self) -> u64 {
        self.core.head.state.load(Ordering::Acquire)
    }

    fn generation_now(&self) -> u32 {
        Word::unpack(self.load()).gen_
    }

    /// The entry time and open duration of the state in `raw`, read consistently with it:
    /// `None` while the transition into it is still publishing them, or if another transition
    /// overtook the read (the caller then acts on the newer word).
    fn times(&self, raw: u64) -> Option<(u64, u64)> {
        if raw & PENDING != 0 {
            return None;
        }
        let head = &self.core.head;
        let entered = head.entered_at.load(Ordering::Acquire);
        let open_ns = head.open_ns.load(Ordering::Acquire);
        let again = head.state.load(Ordering::Acquire);
        (Word::unpack(again).gen_ == Word::unpack(raw).gen_ && again & PENDING == 0)
            .then_some((entered, open_ns))
    }

    /// The state word once no transition is publishing. Transitions are claimed by one CAS and
    /// published two stores later; only another transition ever waits for that.
    fn settled(&self) -> u64 {
        loop {
            let raw = self.load();
            if raw & PENDING == 0 {
                return raw;
            }
            sync::spin();
        }
    }

    /// Move from the exact state word `expected` (not pending) to `to`. Exactly one caller can
    /// succeed for a given `expected`; it alone gets the `Transition` (T1). On failure returns
    /// the word found instead.
    fn transition(
        &self,
        expected: u64,
        to: State,
        ho_issued: u32,
        reason: Reason,
        now: u64,
        open: OpenNs,
    ) -> Result<Transition, u64> {
        let w = Word::unpack(expected);
        let generation = w.gen_.wrapping_add(1);
        let next = Word {
            gen_: generation,
            // Entering a recording state starts a fresh window: the new generation's stamps.
            wgen_lo: if to.records() { generation as u8 } else { w.wgen_lo },
            pending: true,
            state: to,
            ho_successes: 0,
            ho_issued,
        };
        let head = &self.core.head;
        head.state.compare_exchange(expected, next.pack(), Ordering::AcqRel, Ordering::Acquire)?;
        let cfg = &self.core.cfg;
        let open_ns = match open {
            OpenNs::Base => cfg.open_ns,
            OpenNs::Grow => cfg.grown_open_ns(head.open_ns.load(Ordering::Relaxed)),
            OpenNs::Keep => head.open_ns.load(Ordering::Relaxed),
        };
        head.entered_at.store(now, Ordering::Release);
        head.open_ns.store(open_ns, Ordering::Release);
        head.state.fetch_and(!PENDING, Ordering::Release);
        Ok(Transition { from: w.state, to, generation, at: now, reason })
    }

    fn reject(&self, state: State, retry_after_ns: Option<u64>, t: Option<Transition>) -> Rejected {
        self.core.totals.rejected.fetch_add(1, Ordering::Relaxed);
        Rejected { state, retry_after_ns, transition: t }
    }

    fn count_stale(&self) {
        self.core.totals.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// Ask to make a call at time `now` (nanoseconds, caller's monotonic clock).
    ///
    /// Closed, MetricsOnly and Disabled permit every call with a load of the state word. Open
    /// rejects until `open_ns` has passed since it opened; the first caller after that moves
    /// it to HalfOpen and receives the first trial permit (and the [`Transition`], via
    /// [`Permit::transition`]). HalfOpen admits at most `half_open_permits` trials; once all
    /// are out and none has reported for `half_open_timeout_ns`, the next caller re-opens it.
    // `#[inline]` lets the permit and the outcome stay in registers across a caller's
    // acquire + record instead of crossing two calls through memory: measured 28–30 ns → 16–18
    // ns per pair in a 50M-call loop here, at the price of ~15 % on the rejection path.
    #[inline]
    pub fn try_acquire(&self, now: u64) -> Result<Permit, Rejected> {
        let id = self.id();
        let permit =
            |generation, kind, transition| Permit { breaker_id: id, generation, kind, transition };
        let mut raw = self.load();
        // Closed and MetricsOnly, the common case, without decoding the word.
        if word::raw_records(raw) {
            return Ok(permit(word::raw_gen(raw), PermitKind::Normal, None));
        }
        let cfg = &self.core.cfg;
        loop {
            let w = Word::unpack(raw);
            match w.state {
                State::Closed | State::MetricsOnly => {
                    return Ok(permit(w.gen_, PermitKind::Normal, None));
                }
                State::Disabled => return Ok(permit(w.gen_, PermitKind::Passthrough, None)),
                State::ForcedOpen => return Err(self.reject(State::ForcedOpen, None, None)),
                State::Open => {
                    let Some((entered, open_ns)) = self.times(raw) else {
                        return Err(self.reject(State::Open, None, None));
                    };
                    let until = entered.saturating_add(open_ns);
                    if now < until {
                        return Err(self.reject(State::Open, Some(until - now), None));
                    }
                    match self.transition(
                        raw,
                        State::HalfOpen,
                        1,
                        Reason::OpenElapsed,
                        now,
                        OpenNs::Keep,
                    ) {
                        Ok(t) => return Ok(permit(t.generation, PermitKind::Trial, Some(t))),
                        Err(found) => raw = found,
                    }
                }
                State::HalfOpen => {
                    if w.ho_issued < cfg.half_open_permits {
                        let next = Word { ho_issued: w.ho_issued + 1, ..w }.pack();
                        match self.core.head.state.compare_exchange_weak(
                            raw,
                            next,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => return Ok(permit(w.gen_, PermitKind::Trial, None)),
                            Err(found) => {
                                raw = found;
                                continue;
                            }
                        }
                    }
                    let lapsed = self.times(raw).is_some_and(|(entered, _)| {
                        now.saturating_sub(entered) >= cfg.half_open_timeout_ns
                    });
                    if !lapsed {
                        return Err(self.reject(State::HalfOpen, None, None));
                    }
                    match self.transition(
                        raw,
                        State::Open,
                        0,
                        Reason::HalfOpenTimeout,
                        now,
                        OpenNs::Grow,
                    ) {
                        Ok(t) => {
                            let retry = self
                                .times(self.load())
                                .map(|(e, d)| e.saturating_add(d).saturating_sub(now));
                            return Err(self.reject(State::Open, retry, Some(t)));
                        }
                        Err(found) => raw = found,
                    }
                }
            }
        }
    }

    /// A permit if the state grants one without needing the time — Closed, MetricsOnly and
    /// Disabled permit every call — or `None` when it does (Open, HalfOpen, ForcedOpen): then
    /// call [`try_acquire`](Self::try_acquire) with the time. For callers whose clock read costs
    /// more than the breaker (a guarded call that does not time itself for slow-call
    /// detection reads the clock once, at the end, instead of twice). Changes nothing and
    /// counts nothing when it returns `None`.
    #[inline]
    pub fn try_acquire_without_time(&self) -> Option<Permit> {
        let raw = self.load();
        let kind = if word::raw_records(raw) {
            PermitKind::Normal
        } else if Word::unpack(raw).state == State::Disabled {
            PermitKind::Passthrough
        } else {
            return None;
        };
        Some(Permit {
            breaker_id: self.id(),
            generation: word::raw_gen(raw),
            kind,
            transition: None,
        })
    }

    /// Record the outcome of a permitted call made at `now`. Returns the transition it caused,
    /// if any. An outcome whose permit belongs to an older generation is counted as stale and
    /// changes nothing else; a permit from another breaker is counted as stale too (use
    /// [`try_record`](Self::try_record) to have it reported).
    #[inline]
    pub fn record(&self, permit: Permit, outcome: Outcome, now: u64) -> Option<Transition> {
        if self.record_fast(&permit, outcome, None, now) {
            return None;
        }
        self.record_inner(permit, outcome, None, now).unwrap_or_else(|ForeignPermit| {
            self.count_stale();
            None
        })
    }

    /// [`record`](Self::record) for a call that took `duration_ns`: with slow-call detection
    /// on, a call lasting at least `slow_call_ns` also counts as slow.
    #[inline]
    pub fn record_timed(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: u64,
        now: u64,
    ) -> Option<Transition> {
        if self.record_fast(&permit, outcome, Some(duration_ns), now) {
            return None;
        }
        self.record_inner(permit, outcome, Some(duration_ns), now).unwrap_or_else(|ForeignPermit| {
            self.count_stale();
            None
        })
    }

    /// [`record_timed`](Self::record_timed) (or [`record`](Self::record) when `duration_ns` is
    /// `None`) that reports a permit issued by another breaker instead of counting it.
    #[inline]
    pub fn try_record(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, ForeignPermit> {
        if self.record_fast(&permit, outcome, duration_ns, now) {
            return Ok(None);
        }
        self.record_inner(permit, outcome, duration_ns, now)
    }

    /// Whether a call that took `duration_ns` counts as slow.
    #[inline(always)]
    fn is_slow(&self, duration_ns: Option<u64>) -> bool {
        let slow_ns = self.core.cfg.slow_call_ns;
        slow_ns != 0 && duration_ns.is_some_and(|d| d >= slow_ns)
    }

    /// The common case, kept small enough to inline: a success that is not slow, of this
    /// breaker's `Normal` permit, in Closed or MetricsOnly in the permit's generation, whose
    /// bucket is already current. One compare-and-swap on the window, then — only with
    /// consecutive-failure tripping on — a load of the streak word, which a success resets
    /// only if a failure is pending in it. The steps and their order are those of the general
    /// path ([`record_window`](Self::record_window)); `false` means nothing was changed and the
    /// general path must run.
    #[inline(always)]
    fn record_fast(
        &self,
        permit: &Permit,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> bool {
        if outcome != Outcome::Success || self.is_slow(duration_ns) {
            return false;
        }
        let raw = self.load();
        let generation = permit.generation;
        if permit.kind != PermitKind::Normal
            || permit.breaker_id == 0
            || permit.breaker_id != self.core.id.load(Ordering::Relaxed)
            || word::raw_gen(raw) != generation
            || !word::raw_records(raw)
        {
            return false;
        }
        let cfg = &self.core.cfg;
        if !window::try_add_fast(&self.ring, cfg, generation, now, window::SUCCESSES) {
            return false;
        }
        if word::raw_closed(raw)
            && cfg.consecutive_failures != 0
            && self.core.streak.load(Ordering::Acquire) != u64::from(generation) << 32
        {
            self.update_streak(generation, Outcome::Success);
        }
        true
    }

    #[inline]
    fn record_inner(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, ForeignPermit> {
        if permit.breaker_id != self.id() {
            return Err(ForeignPermit);
        }
        let raw = self.load();
        let w = Word::unpack(raw);
        if w.gen_ != permit.generation {
            self.count_stale();
            return Ok(None);
        }
        let slow = self.is_slow(duration_ns);
        Ok(match (w.state, permit.kind) {
            (State::Closed | State::MetricsOnly, PermitKind::Normal) => {
                self.record_window(w, outcome, slow, now)
            }
            (State::HalfOpen, PermitKind::Trial) => self.record_trial(raw, outcome, slow, now),
            (State::Disabled, PermitKind::Passthrough) => None,
            // Same generation, wrong kind: only a forged permit gets here.
            _ => {
                self.count_stale();
                None
            }
        })
    }

    /// An outcome in Closed or MetricsOnly: count it, then decide a trip if it was a failure
    /// or a slow call. A plain success is one counter update and never trips.
    fn record_window(&self, w: Word, outcome: Outcome, slow: bool, now: u64) -> Option<Transition> {
        let kind = match outcome {
            Outcome::Ignored => return None,
            Outcome::Success => window::SUCCESSES,
            Outcome::Failure => window::FAILURES,
        };
        let cfg = &self.core.cfg;
        let counted =
            window::add(&self.ring, cfg, || self.generation_now(), w.gen_, now, kind, slow);
        if counted.is_err() {
            self.count_stale();
            return None;
        }
        if w.state != State::Closed {
            return None;
        }
        let streak_hit = cfg.consecutive_failures != 0 && self.update_streak(w.gen_, outcome);
        if outcome == Outcome::Success && !slow {
            return None;
        }
        self.decide_trip(w.gen_, streak_hit, now)
    }

    /// Track failures in a row for generation `generation`. True when the streak reached
    /// `consecutive_failures`. The word carries its generation so an outcome racing a
    /// transition cannot touch the next generation's streak.
    fn update_streak(&self, generation: u32, outcome: Outcome) -> bool {
        let streak = &*self.core.streak;
        let mut cur = streak.load(Ordering::Acquire);
        loop {
            let cur_gen = (cur >> 32) as u32;
            let count = cur as u32;
            // A streak word of a newer generation means our permit went stale meanwhile.
            if cur_gen != generation && (cur_gen.wrapping_sub(generation) as i32) > 0 {
                return false;
            }
            let next_count = match outcome {
                Outcome::Ignored => return false,
                Outcome::Success if cur_gen == generation && count == 0 => return false,
                Outcome::Success => 0,
                Outcome::Failure if cur_gen == generation => count.saturating_add(1),
                Outcome::Failure => 1,
            };
            let next = (u64::from(generation) << 32) | u64::from(next_count);
            match streak.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return next_count >= self.core.cfg.consecutive_failures,
                Err(found) => cur = found,
            }
        }
    }

    /// Closed → Open if the streak or the window says so. Only a caller still in generation
    /// `generation` can make the move, and only one of them does (T1).
    fn decide_trip(&self, generation: u32, streak_hit: bool, now: u64) -> Option<Transition> {
        let cfg = &self.core.cfg;
        let reason = if streak_hit {
            Reason::ConsecutiveFailures
        } else {
            let c = window::counts(&self.ring, cfg, generation, now);
            let calls = c.successes + c.failures;
            if calls < u64::from(cfg.minimum_calls) || calls == 0 {
                return None;
            }
            if c.failures as f64 >= cfg.failure_rate * calls as f64 {
                Reason::FailureRate
            } else if cfg.slow_call_ns != 0 && c.slow as f64 >= cfg.slow_call_rate * calls as f64 {
                Reason::SlowCallRate
            } else {
                return None;
            }
        };
        loop {
            let raw = self.load();
            let w = Word::unpack(raw);
            if w.gen_ != generation || w.state != State::Closed {
                return None;
            }
            if w.pending {
                sync::spin();
                continue;
            }
            if let Ok(t) = self.transition(raw, State::Open, 0, reason, now, OpenNs::Base) {
                return Some(t);
            }
        }
    }

    /// A half-open trial reported. `raw` is a word of the trial's generation.
    fn record_trial(
        &self,
        mut raw: u64,
        outcome: Outcome,
        slow: bool,
        now: u64,
    ) -> Option<Transition> {
        let cfg = &self.core.cfg;
        let generation = Word::unpack(raw).gen_;
        loop {
            let w = Word::unpack(raw);
            if w.gen_ != generation || w.state != State::HalfOpen {
                // Another outcome or a manual operation moved the breaker on first.
                self.count_stale();
                return None;
            }
            let failed = outcome == Outcome::Failure || (outcome == Outcome::Success && slow);
            let result = if outcome == Outcome::Ignored {
                // Not a call: hand the trial permit back for another caller.
                let next = Word { ho_issued: w.ho_issued.saturating_sub(1), ..w }.pack();
                self.core
                    .head
                    .state
                    .compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Acquire)
                    .map(|_| None)
            } else if !failed && w.ho_successes + 1 < cfg.half_open_permits {
                let next = Word { ho_successes: w.ho_successes + 1, ..w }.pack();
                self.core
                    .head
                    .state
                    .compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Acquire)
                    .map(|_| None)
            } else if w.pending {
                sync::spin();
                Err(self.load())
            } else if failed {
                self.transition(raw, State::Open, 0, Reason::TrialFailed, now, OpenNs::Grow)
                    .map(Some)
            } else {
                self.transition(raw, State::Closed, 0, Reason::TrialsSucceeded, now, OpenNs::Base)
                    .map(Some)
            };
            match result {
                Ok(t) => return t,
                Err(found) => raw = found,
            }
        }
    }

    /// A manual transition to `to`, unless the current state is one `skip` names.
    fn manual(
        &self,
        to: State,
        reason: Reason,
        now: u64,
        skip: impl Fn(State) -> bool,
    ) -> Option<Transition> {
        loop {
            let raw = self.settled();
            if skip(Word::unpack(raw).state) {
                return None;
            }
            if let Ok(t) = self.transition(raw, to, 0, reason, now, OpenNs::Base) {
                return Some(t);
            }
        }
    }

    /// Open the breaker now, as a trip would (from any state but Open and ForcedOpen). It
    /// half-opens after `open_ns` like any trip.
    pub fn trip(&self, now: u64) -> Option<Transition> {
        self.manual(State::Open, Reason::Trip, now, |s| {
            matches!(s, State::Open | State::ForcedOpen)
        })
    }

    /// Reject every call until [`reset`](Self::reset).
    pub fn force_open(&self, now: u64) -> Option<Transition> {
        self.manual(State::ForcedOpen, Reason::ForceOpen, now, |s| s == State::ForcedOpen)
    }

    /// Permit every call and record nothing until [`reset`](Self::reset).
    pub fn disable(&self, now: u64) -> Option<Transition> {
        self.manual(State::Disabled, Reason::Disable, now, |s| s == State::Disabled)
    }

    /// Permit and record every call in a fresh window, never tripping, until
    /// [`reset`](Self::reset).
    pub fn metrics_only(&self, now: u64) -> Option<Transition> {
        self.manual(State::MetricsOnly, Reason::MetricsOnly, now, |s| s == State::MetricsOnly)
    }

    /// Closed, with a fresh window and the open duration back to `open_ns`, from any state
    /// (a Closed breaker is reset too: its window is cleared and its generation bumped).
    pub fn reset(&self, now: u64) -> Option<Transition> {
        self.manual(State::Closed, Reason::Reset, now, |_| false)
    }

    /// The state as the next [`try_acquire`](Self::try_acquire) at `now` would find it: an
    /// Open breaker whose open duration has passed reports HalfOpen (it moves there lazily,
    /// on that acquire). Reading the state never changes it.
    pub fn state(&self, now: u64) -> State {
        let raw = self.load();
        let w = Word::unpack(raw);
        match (w.state, self.times(raw)) {
            (State::Open, Some((e, d))) if now >= e.saturating_add(d) => State::HalfOpen,
            (s, _) => s,
        }
    }

    /// A snapshot of the breaker at `now`. O(buckets).
    pub fn snapshot(&self, now: u64) -> Metrics {
        let raw = self.load();
        let w = Word::unpack(raw);
        // Outside a recording state the window shown is the one that was current when the
        // breaker left it (the one that tripped it), ageing out with time.
        let wgen = if w.state.records() { w.gen_ } else { w.window_gen() };
        let c = window::counts(&self.ring, &self.core.cfg, wgen, now);
        let calls = c.successes + c.failures;
        let rate = |n: u64| if calls == 0 { 0.0 } else { n as f64 / calls as f64 };
        let times = self.times(raw);
        Metrics {
            state: w.state,
            generation: w.gen_,
            calls,
            successes: c.successes,
            failures: c.failures,
            slow_calls: c.slow,
            failure_rate: rate(c.failures),
            slow_call_rate: rate(c.slow),
            rejected: self.core.totals.rejected.load(Ordering::Relaxed),
            stale: self.core.totals.stale.load(Ordering::Relaxed),
            time_until_half_open_ns: match (w.state, times) {
                (State::Open, Some((e, d))) => Some(e.saturating_add(d).saturating_sub(now)),
                _ => None,
            },
            open_ns: match times {
                Some((_, d)) => d,
                None => self.core.head.open_ns.load(Ordering::Acquire),
            },
        }
    }

    /// Test support for the saturation invariant (W3): preload the bucket for `now` with
    /// counts for the current generation.
    #[cfg(any(test, ringbreaker_loom))]
    #[doc(hidden)]
    pub fn preload_counts(&self, now: u64, successes: u64, failures: u64, slow: u64) {
        window::preload(
            &self.ring,
            &self.core.cfg,
            self.generation_now(),
            now,
            [successes, failures, slow],
        );
    }
}

/// Placement: building a breaker in memory the caller owns.
impl Breaker {
    /// The memory layout of a breaker with `buckets` buckets.
    pub fn layout(buckets: u32) -> core::alloc::Layout {
        let head = core::alloc::Layout::new::<Core>();
        let ring = core::alloc::Layout::array::<Bucket>(buckets as usize)
            .unwrap_or(core::alloc::Layout::new::<Bucket>());
        match head.extend(ring) {
            Ok((l, _)) => l.pad_to_align(),
            Err(_) => head,
        }
    }

    /// Build a breaker in `mem`, which must be at least `Breaker::layout(cfg.buckets()).size()`
    /// bytes and aligned to its `align()`. The breaker borrows the memory for as long as it is
    /// used; it owns no other resource, so dropping the reference is all the clean-up needed.
    pub fn place(
        mem: &mut [core::mem::MaybeUninit<u8>],
        cfg: Config,
    ) -> Result<&Breaker, PlaceError> {
        let layout = Self::layout(cfg.buckets);
        let ptr = mem.as_mut_ptr();
        if (ptr as usize) % layout.align() != 0 {
            return Err(PlaceError::Misaligned { align: layout.align() });
        }
        if mem.len() < layout.size() {
            return Err(PlaceError::TooSmall { need: layout.size() });
        }
        // SAFETY: `mem` is writable for `layout.size()` bytes at `layout.align()` (checked
        // above) and is exclusively borrowed for the lifetime of the returned reference.
        Ok(unsafe { &*Self::init_raw(ptr.cast(), cfg, next_id()) })
    }

    /// Write a fresh breaker at `ptr` and return a pointer to it that keeps `ptr`'s
    /// provenance (a `Box` can be rebuilt from it).
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `Breaker::layout(cfg.buckets()).size()` bytes, aligned
    /// to its `align()`, and not otherwise used while the breaker lives.
    pub(crate) unsafe fn init_raw(ptr: *mut u8, cfg: Config, id: u32) -> *mut Breaker {
        let n = cfg.buckets as usize;
        let ring_off = ring_offset(n);
        // SAFETY: the caller guarantees the whole block is writable and aligned; `Core` sits at
        // offset 0 and the buckets at `ring_off`, as `#[repr(C)]` lays out `Breaker`.
        unsafe {
            ptr.cast::<Core>().write(Core::new(cfg, id));
            let ring = ptr.add(ring_off).cast::<Bucket>();
            for i in 0..n {
                ring.add(i).write(Bucket::new());
            }
            Self::fat(ptr)
        }
    }

    /// The fat pointer to the breaker whose block starts at `ptr`, built without creating a
    /// reference, so it carries `ptr`'s provenance.
    ///
    /// # Safety
    /// `ptr` must point to an initialised breaker block.
    pub(crate) unsafe fn fat(ptr: *mut u8) -> *mut Breaker {
        // SAFETY: the block starts with its `Core`, whose config holds the bucket count; the
        // slice metadata `n` gives the `#[repr(C)]` slice-tailed struct exactly the block's
        // layout.
        unsafe {
            let n = (*ptr.cast::<Core>()).cfg.buckets as usize;
            core::ptr::slice_from_raw_parts_mut(ptr.cast::<Bucket>(), n) as *mut Breaker
        }
    }

    /// View a breaker previously built at `ptr` (by [`place`](Self::place), by
    /// [`CircuitBreaker::into_raw`](crate::CircuitBreaker::into_raw), or by the C ABI).
    ///
    /// # Safety
    /// `ptr` must point to a breaker built in place and still alive for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *const u8) -> &'a Breaker {
        // SAFETY: forwarded from the caller; only shared access is created.
        unsafe { &*Self::fat(ptr.cast_mut()) }
    }

    /// The address of this breaker's block, for bindings that hand it out as a handle.
    pub fn as_ptr(&self) -> *const u8 {
        (self as *const Breaker).cast()
    }
}

/// [`Breaker::place`] could not use the memory it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// The buffer is smaller than the breaker needs.
    TooSmall {
        /// Bytes needed.
        need: usize,
    },
    /// The buffer is not aligned as the breaker needs.
    Misaligned {
        /// Alignment needed.
        align: usize,
    },
}

impl core::fmt::Display for PlaceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlaceError::TooSmall { need } => {
                write!(f, "buffer too small: a breaker needs {need} bytes")
            }
            PlaceError::Misaligned { align } => {
                write!(f, "buffer misaligned: a breaker needs {align}-byte alignment")
            }
        }
    }
}

impl core::error::Error for PlaceError {}

#[cfg(feature = "alloc")]
impl Breaker {
    /// Allocate and build a breaker with `cfg.buckets()` buckets on the heap.
    pub(crate) fn boxed(cfg: Config) -> alloc::boxed::Box<Breaker> {
        let layout = Self::layout(cfg.buckets);
        // SAFETY: `layout` has non-zero size (it holds at least the `Core`).
        let ptr = unsafe { alloc::alloc::alloc(layout) };
        if ptr.is_null() {
            alloc::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` is a fresh allocation of exactly `layout`; `init_raw` fills it, and
        // `Box` will free it with `Layout::for_value`, which for this `#[repr(C)]` slice-tailed
        // struct equals `layout`.
        unsafe { alloc::boxed::Box::from_raw(Self::init_raw(ptr, cfg, next_id())) }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use crate::{CircuitBreaker, Config, Outcome};

    /// W3: a counter at its limit saturates; it never wraps or carries into its stamp, so the
    /// bucket's other counters and its period are untouched.
    #[test]
    fn counters_saturate_at_their_limit() {
        let b = CircuitBreaker::new(Config::builder().minimum_calls(u32::MAX).build().unwrap());
        let max = crate::window::COUNT_MAX;
        b.preload_counts(5, max - 1, 7, max);
        for _ in 0..3 {
            let p = b.try_acquire(5).unwrap();
            b.record_timed(p, Outcome::Success, 0, 5);
        }
        let m = b.snapshot(5);
        assert_eq!((m.successes, m.failures, m.slow_calls), (max, 7, max));
        let p = b.try_acquire(5).unwrap();
        b.record(p, Outcome::Failure, 5);
        assert_eq!(b.snapshot(5).failures, 8);
        assert_eq!(b.snapshot(5).calls, max + 8, "window totals are u64: no overflow summing");
    }
}

// ---- Shared memory (issue 16, branch `shm`): layout facts for the region header. ----------
// `core/src/shared.rs` hashes these into the header of a shared region and refuses to attach
// when they differ. Add a line here whenever a field moves or the state word's encoding
// changes; a changed list only makes older processes refuse to attach, naming the fact.

/// Sizes, offsets and encodings of the breaker block two processes must agree on to share it.
#[cfg(all(feature = "std", unix))]
pub(crate) fn shared_layout_facts() -> alloc::vec::Vec<(&'static str, u64)> {
    use core::mem::{align_of, offset_of, size_of};
    let f = |n: usize| n as u64;
    alloc::vec![
        ("size of Core", f(size_of::<Core>())),
        ("align of Core", f(align_of::<Core>())),
        ("offset of Core.cfg", f(offset_of!(Core, cfg))),
        ("offset of Core.id", f(offset_of!(Core, id))),
        ("offset of Core.head", f(offset_of!(Core, head))),
        ("offset of Core.streak", f(offset_of!(Core, streak))),
        ("offset of Core.totals", f(offset_of!(Core, totals))),
        ("offset of Head.state", f(offset_of!(Head, state))),
        ("offset of Head.entered_at", f(offset_of!(Head, entered_at))),
        ("offset of Head.open_ns", f(offset_of!(Head, open_ns))),
        ("offset of Totals.rejected", f(offset_of!(Totals, rejected))),
        ("offset of Totals.stale", f(offset_of!(Totals, stale))),
        ("size of Bucket", f(size_of::<Bucket>())),
        ("align of Bucket", f(align_of::<Bucket>())),
        ("offset of the ring", f(ring_offset(1))),
        ("initial state word", Word::initial().pack()),
        ("pending bit of the state word", PENDING),
    ]
}

/// Byte offset of the `Config` inside a breaker block (for checking a shared block's config
/// before building a reference to it).
#[cfg(all(feature = "std", unix))]
pub(crate) const SHARED_CONFIG_OFFSET: usize = core::mem::offset_of!(Core, cfg);
// ---- end of the shared-memory block. ------------------------------------------------------
