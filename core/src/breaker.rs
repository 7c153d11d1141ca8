//! The breaker: state machine over the rolling window.

use crossbeam_utils::CachePadded;

use crate::config::{Config, ConfigError};
use crate::placement::next_id;
use crate::state::{self as word, PENDING, State, TRIAL_SLOTS, Word};
use crate::sync::{self, AtomicU32, AtomicU64, Ordering};
use crate::types::{
    Key, Metrics, Outcome, Permit, PermitKind, Reason, RecordError, Rejected, Transition,
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
    /// The generation whose window a snapshot shows: the last one entered in a recording
    /// state (Closed, MetricsOnly). Published with `entered_at`.
    window_gen: AtomicU32,
    /// Caller time at which the newest trial permit of the current HalfOpen generation was
    /// issued: its lease started then. Written (`fetch_max`) before the compare-and-swap that
    /// issues the permit, so whoever sees that permit issued sees its lease (T5).
    trial_at: AtomicU64,
}

/// Words of the trial-slot map: 32 slots each, `TRIAL_SLOTS` in all (fewer under loom, whose
/// models use a handful of trials and pay for every atomic).
#[cfg(not(ringbreaker_loom))]
const TRIAL_WORDS: usize = (TRIAL_SLOTS as usize).div_ceil(32);
#[cfg(ringbreaker_loom)]
const TRIAL_WORDS: usize = 1;

/// Totals written on the stale path, kept off the state word's line. (Rejections are counted
/// in the ring, spread over its lines: see `window::count_rejected`.)
#[repr(C)]
pub(crate) struct Totals {
    stale: AtomicU64,
}

/// Everything but the ring.
#[repr(C)]
pub(crate) struct Core {
    cfg: Config,
    /// Identity stamped into permits; 0 until assigned.
    id: AtomicU32,
    head: CachePadded<Head>,
    /// Where the latest period is in the ring (a cache; see `window::PeriodHint`). On a line
    /// of its own: it is written once per bucket period, and when calls cross buckets quickly
    /// those writes must not take the state word's read-mostly line away from every reader.
    hint: CachePadded<window::PeriodHint>,
    /// Consecutive failures: `generation << 32 | count`.
    streak: CachePadded<AtomicU64>,
    totals: CachePadded<Totals>,
    /// Which trial permits of a HalfOpen generation have been recorded, so a second record of
    /// one is refused (T6). Word `i` is `generation << 32 | bits` for slots `32 i ..`; a word
    /// stamped with an older generation counts as empty.
    trials: CachePadded<[AtomicU64; TRIAL_WORDS]>,
}

macro_rules! core_new {
    ($cfg:expr, $id:expr, $trials:expr) => {
        Core {
            id: AtomicU32::new($id),
            head: CachePadded::new(Head {
                state: AtomicU64::new(Word::initial().pack()),
                entered_at: AtomicU64::new(0),
                open_ns: AtomicU64::new($cfg.open_ns),
                window_gen: AtomicU32::new(Word::initial().gen_),
                trial_at: AtomicU64::new(0),
            }),
            hint: CachePadded::new(window::PeriodHint::new()),
            streak: CachePadded::new(AtomicU64::new(0)),
            totals: CachePadded::new(Totals { stale: AtomicU64::new(0) }),
            trials: CachePadded::new($trials),
            cfg: $cfg,
        }
    };
}

impl Core {
    /// The ring slots (`buckets × stripes`), which size the ring that follows the header.
    pub(crate) fn ring_len(&self) -> u32 {
        self.cfg.ring_len()
    }

    #[cfg(not(ringbreaker_loom))]
    pub(crate) const fn new(cfg: Config, id: u32) -> Core {
        core_new!(cfg, id, [const { AtomicU64::new(0) }; TRIAL_WORDS])
    }

    #[cfg(ringbreaker_loom)]
    pub(crate) fn new(cfg: Config, id: u32) -> Core {
        core_new!(cfg, id, core::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// What a transition publishes beside the state word, read consistently with it.
#[derive(Clone, Copy)]
struct Published {
    entered_at: u64,
    open_ns: u64,
    window_gen: u32,
}

/// Whether a HalfOpen word can issue no further trial permit: all `permits` are out, or the
/// generation has used every trial slot (only after hand-backs).
fn trials_full(w: &Word, permits: u32) -> bool {
    w.ho_issued >= permits || w.ho_seq >= TRIAL_SLOTS
}

/// What recording a trial permit's slot found.
enum Mark {
    /// This record is the slot's first.
    First,
    /// The slot was recorded before.
    Again,
    /// The slot map has moved on to another generation: the permit is stale.
    Moved,
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
    /// A breaker with `N` inline buckets. `cfg.ring_len()` (`buckets × stripes`) must equal
    /// `N`.
    #[cfg(not(ringbreaker_loom))]
    pub const fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.ring_len() as usize != N {
            return Err(ConfigError::BucketStorage { buckets: cfg.ring_len(), storage: N });
        }
        Ok(Breaker { core: Core::new(cfg, 0), ring: [const { Bucket::new() }; N] })
    }

    /// A breaker with `N` inline buckets. `cfg.ring_len()` (`buckets × stripes`) must equal
    /// `N`.
    #[cfg(ringbreaker_loom)]
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.ring_len() as usize != N {
            return Err(ConfigError::BucketStorage { buckets: cfg.ring_len(), storage: N });
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

    /// What the transition into the state in `raw` published, read consistently with it:
    /// `None` while the transition is still publishing, or if another transition overtook the
    /// read (the caller then acts on the newer word).
    fn times(&self, raw: u64) -> Option<Published> {
        if raw & PENDING != 0 {
            return None;
        }
        let head = &self.core.head;
        let entered_at = head.entered_at.load(Ordering::Acquire);
        let open_ns = head.open_ns.load(Ordering::Acquire);
        let window_gen = head.window_gen.load(Ordering::Acquire);
        let again = head.state.load(Ordering::Acquire);
        (Word::unpack(again).gen_ == Word::unpack(raw).gen_ && again & PENDING == 0)
            .then_some(Published { entered_at, open_ns, window_gen })
    }

    /// A settled state word and what its transition published, read consistently (queries
    /// that need both: `retry_after`, `snapshot`).
    fn settled_published(&self) -> (u64, Published) {
        loop {
            let raw = self.settled();
            if let Some(p) = self.times(raw) {
                return (raw, p);
            }
        }
    }

    /// The instant the newest trial lease of the HalfOpen generation in `raw` lapses. Read
    /// after `raw`, so it includes every lease issued up to `raw` (T5).
    fn lease_end(&self) -> u64 {
        let newest = self.core.head.trial_at.load(Ordering::Acquire);
        newest.saturating_add(self.core.cfg.half_open_timeout_ns)
    }

    /// Record that trial slot `slot` of generation `generation` (the current one when this
    /// was called) has reported.
    fn mark_trial(&self, generation: u32, slot: u16) -> Mark {
        let slot = usize::from(slot);
        let Some(word) = self.core.trials.get(slot / 32) else { return Mark::Moved };
        let bit = 1u64 << (slot % 32);
        let mut cur = word.load(Ordering::Acquire);
        loop {
            let stamped = (cur >> 32) as u32;
            let next = if stamped == generation {
                if cur & bit != 0 {
                    return Mark::Again;
                }
                cur | bit
            } else if self.generation_now() == generation {
                // Another generation's marks while this one is current: an older one's, empty
                // for this one. (Compared by identity, not order, so it holds across the
                // generation's wrap.)
                (u64::from(generation) << 32) | bit
            } else {
                return Mark::Moved;
            };
            match word.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Mark::First,
                Err(found) => cur = found,
            }
        }
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
        let generation = Word::unpack(expected).gen_.wrapping_add(1);
        self.transition_to(expected, generation, to, ho_issued, reason, now, open)
    }

    /// [`transition`](Self::transition) into a given generation.
    #[allow(clippy::too_many_arguments)]
    fn transition_to(
        &self,
        expected: u64,
        generation: u32,
        to: State,
        ho_issued: u32,
        reason: Reason,
        now: u64,
        open: OpenNs,
    ) -> Result<Transition, u64> {
        let w = Word::unpack(expected);
        let next = Word {
            gen_: generation,
            pending: true,
            state: to,
            ho_seq: ho_issued,
            ho_successes: 0,
            ho_issued,
        };
        if to.records() {
            // A fresh window: no word may carry this generation's stamp bits before it is
            // current (the window is exact after any number of transitions). And a fresh
            // streak, for the same reason: a streak word left by the generation 2^32 back
            // would otherwise read as this one's. Both before the swap, because recorders of
            // the new generation start right after it; if the swap fails, the state whose
            // streak this clears has already been left (only transitions change a Closed
            // word).
            window::retire_aliases(&self.ring, generation, w.gen_);
            self.core.streak.store(u64::from(generation) << 32, Ordering::Release);
        }
        if to == State::HalfOpen {
            // Likewise the trial-slot map: marks left by the generation 2^32 back are cleared.
            for word in self.core.trials.iter() {
                if (word.load(Ordering::Acquire) >> 32) as u32 == generation {
                    word.store(u64::from(generation) << 32, Ordering::Release);
                }
            }
            // The entering call takes the first trial permit (slot 0): its lease starts now,
            // and is in place before any other caller can see HalfOpen and issue (T5). If the
            // swap fails, `now` stays as a lease start no earlier than the last one: a later
            // lapse, never an earlier one.
            self.core.head.trial_at.fetch_max(now, Ordering::AcqRel);
        }
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
        if to.records() {
            head.window_gen.store(generation, Ordering::Release);
        }
        head.state.fetch_and(!PENDING, Ordering::Release);
        Ok(Transition { from: w.state, to, generation, at: now, reason })
    }

    fn reject(&self, state: State, retry_after_ns: Option<u64>, t: Option<Transition>) -> Rejected {
        window::count_rejected(&self.ring, sync::thread_stripe());
        Rejected { state, retry_after_ns, transition: t }
    }

    /// The stripe this thread counts in: 0 unless the window is striped.
    #[inline(always)]
    fn stripe(&self) -> u32 {
        let stripes = self.core.cfg.stripes;
        if stripes == 1 { 0 } else { sync::thread_stripe() & (stripes - 1) }
    }

    fn count_stale(&self) {
        self.core.totals.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// Ask to make a call at time `now` (nanoseconds, caller's monotonic clock).
    ///
    /// Closed, MetricsOnly and Disabled permit every call with a load of the state word. Open
    /// rejects until `open_ns` has passed since it opened; the first caller after that moves
    /// it to HalfOpen and receives the first trial permit (and the [`Transition`], via
    /// [`Permit::transition`]). HalfOpen admits at most `half_open_permits` trials, each a
    /// lease that starts when it is issued; once every trial permit is out, not all have
    /// reported, and the newest has been out for `half_open_timeout_ns`, the next caller
    /// re-opens it (a lapse counts as a failed trial: the open duration grows). Every rejection
    /// carries [`Rejected::retry_after_ns`].
    // `#[inline]` lets the permit and the outcome stay in registers across a caller's
    // acquire + record instead of crossing two calls through memory: measured 28–30 ns → 16–18
    // ns per pair in a 50M-call loop here, at the price of ~15 % on the rejection path.
    #[inline]
    pub fn try_acquire(&self, now: u64) -> Result<Permit, Rejected> {
        let raw = self.load();
        // Closed and MetricsOnly, the common case, without decoding the word. The rest is out
        // of line, so this stays small enough to inline into the caller: measured by callgrind
        // (`make bench-callgrind`), 144 → 120 instructions per acquire + record once the
        // half-open leases had grown the whole function past the inliner's budget.
        if word::raw_records(raw) {
            return Ok(Permit {
                breaker_id: self.id(),
                generation: word::raw_gen(raw),
                kind: PermitKind::Normal,
                slot: 0,
                transition: None,
            });
        }
        self.try_acquire_slow(raw, now)
    }

    /// [`try_acquire`](Self::try_acquire) in every state but Closed and MetricsOnly.
    #[inline(never)]
    fn try_acquire_slow(&self, mut raw: u64, now: u64) -> Result<Permit, Rejected> {
        let id = self.id();
        let permit = |generation, kind, slot, transition| Permit {
            breaker_id: id,
            generation,
            kind,
            slot,
            transition,
        };
        let cfg = &self.core.cfg;
        loop {
            let w = Word::unpack(raw);
            match w.state {
                State::Closed | State::MetricsOnly => {
                    return Ok(permit(w.gen_, PermitKind::Normal, 0, None));
                }
                State::Disabled => return Ok(permit(w.gen_, PermitKind::Passthrough, 0, None)),
                State::ForcedOpen => return Err(self.reject(State::ForcedOpen, None, None)),
                State::Open => {
                    let Some(p) = self.times(raw) else {
                        // Only while another thread publishes a transition it just made.
                        return Err(self.reject(State::Open, None, None));
                    };
                    let until = p.entered_at.saturating_add(p.open_ns);
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
                        Ok(t) => return Ok(permit(t.generation, PermitKind::Trial, 0, Some(t))),
                        Err(found) => raw = found,
                    }
                }
                State::HalfOpen => {
                    if !trials_full(&w, cfg.half_open_permits) {
                        // The lease starts before the permit exists (T5).
                        self.core.head.trial_at.fetch_max(now, Ordering::AcqRel);
                        let next =
                            Word { ho_issued: w.ho_issued + 1, ho_seq: w.ho_seq + 1, ..w }.pack();
                        match self.core.head.state.compare_exchange_weak(
                            raw,
                            next,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => {
                                // `ho_seq < TRIAL_SLOTS <= u16::MAX`, checked by `trials_full`.
                                let slot = w.ho_seq as u16;
                                return Ok(permit(w.gen_, PermitKind::Trial, slot, None));
                            }
                            Err(found) => {
                                raw = found;
                                continue;
                            }
                        }
                    }
                    let lapse_at = self.lease_end();
                    if now < lapse_at {
                        return Err(self.reject(State::HalfOpen, Some(lapse_at - now), None));
                    }
                    if w.pending {
                        // Only a transition waits for another to publish.
                        sync::spin();
                        raw = self.load();
                        continue;
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
                            let retry = self.times(self.load()).map(|p| {
                                p.entered_at.saturating_add(p.open_ns).saturating_sub(now)
                            });
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
            slot: 0,
            transition: None,
        })
    }

    /// Record the outcome of a permitted call made at `now`. Returns the transition it caused,
    /// if any. An outcome whose permit belongs to an older generation is counted as stale and
    /// changes nothing else; a permit from another breaker is counted as stale too, and a
    /// half-open trial permit recorded a second time changes nothing (use
    /// [`try_record`](Self::try_record) to have either reported).
    #[inline]
    pub fn record(&self, permit: Permit, outcome: Outcome, now: u64) -> Option<Transition> {
        self.record_key(permit.key(), outcome, None, now)
    }

    /// `record` (`duration_ns` `None`) and `record_timed` of a permit taken apart.
    #[inline]
    pub(crate) fn record_key(
        &self,
        permit: Key,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Option<Transition> {
        if self.record_fast(&permit, outcome, duration_ns, now) {
            return None;
        }
        self.record_slow(permit, outcome, duration_ns, now)
    }

    /// `record` and `record_timed` off the fast path, out of line so that those stay small
    /// enough to inline.
    #[inline(never)]
    fn record_slow(
        &self,
        permit: Key,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Option<Transition> {
        self.record_inner(permit, outcome, duration_ns, now).unwrap_or_else(|e| self.refused(e))
    }

    /// What `record` and `record_timed` do with an outcome `try_record` would refuse.
    #[cold]
    fn refused(&self, e: RecordError) -> Option<Transition> {
        if e == RecordError::ForeignPermit {
            self.count_stale();
        }
        None
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
        self.record_key(permit.key(), outcome, Some(duration_ns), now)
    }

    /// [`record_timed`](Self::record_timed) (or [`record`](Self::record) when `duration_ns` is
    /// `None`) that reports, instead of counting, a permit issued by another breaker
    /// ([`RecordError::ForeignPermit`]) or a half-open trial permit of the current generation
    /// recorded a second time ([`RecordError::AlreadyRecorded`]). Either way nothing changes.
    #[inline]
    pub fn try_record(
        &self,
        permit: Permit,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, RecordError> {
        let permit = permit.key();
        if self.record_fast(&permit, outcome, duration_ns, now) {
            return Ok(None);
        }
        self.record_inner_out_of_line(permit, outcome, duration_ns, now)
    }

    /// `try_record` off the fast path, out of line (see `record_slow`).
    #[inline(never)]
    fn record_inner_out_of_line(
        &self,
        permit: Key,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, RecordError> {
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
        permit: &Key,
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
        let hint = &self.core.hint;
        if !window::try_add_fast(
            &self.ring,
            cfg,
            generation,
            now,
            window::SUCCESSES,
            self.stripe(),
            hint,
        ) {
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
        permit: Key,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Result<Option<Transition>, RecordError> {
        if permit.breaker_id != self.id() {
            return Err(RecordError::ForeignPermit);
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
            // A slot this generation never issued: only a forged permit gets here.
            (State::HalfOpen, PermitKind::Trial) if u32::from(permit.slot) >= w.ho_seq => {
                self.count_stale();
                None
            }
            (State::HalfOpen, PermitKind::Trial) => match self.mark_trial(w.gen_, permit.slot) {
                Mark::First => self.record_trial(raw, outcome, slow, now),
                Mark::Again => return Err(RecordError::AlreadyRecorded),
                Mark::Moved => {
                    self.count_stale();
                    None
                }
            },
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
        let counted = window::add(
            &self.ring,
            cfg,
            || self.generation_now(),
            w.gen_,
            now,
            kind,
            slow,
            self.stripe(),
            &self.core.hint,
        );
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
            // A word of another generation is an older one's, to be replaced, while ours is
            // current; otherwise our permit went stale meanwhile. (Identity, not order: the
            // generation wraps.)
            if cur_gen != generation && self.generation_now() != generation {
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
            // Between this outcome's count and the reads of everyone else's: two recorders
            // counting in different words must not both miss the other's count (see `window`).
            sync::fence(Ordering::SeqCst);
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
    /// Open breaker whose open duration has passed reads HalfOpen (it moves there lazily, on
    /// that acquire), and a full HalfOpen whose newest trial lease has lapsed reads Open.
    /// [`snapshot`](Self::snapshot)`.state` is the same. Reading the state never changes it.
    pub fn state(&self, now: u64) -> State {
        let raw = self.load();
        self.effective(raw, self.times(raw), now)
    }

    /// The state in `raw` as a `try_acquire` at `now` would find it.
    fn effective(&self, raw: u64, published: Option<Published>, now: u64) -> State {
        let w = Word::unpack(raw);
        match (w.state, published) {
            (State::Open, Some(p)) if now >= p.entered_at.saturating_add(p.open_ns) => {
                State::HalfOpen
            }
            (State::HalfOpen, Some(_))
                if trials_full(&w, self.core.cfg.half_open_permits) && now >= self.lease_end() =>
            {
                State::Open
            }
            (s, _) => s,
        }
    }

    /// Nanoseconds from `now` until a call could be admitted — the number a rejection at `now`
    /// carries in [`Rejected::retry_after_ns`]: 0 when a `try_acquire` at `now` would be
    /// permitted; for Open, the end of the open period; for a full HalfOpen, the earliest lapse
    /// of its newest lease (and once that has passed, the open period the lapse would start);
    /// `None` for ForcedOpen, which only a manual `reset` ends. Changes nothing.
    pub fn retry_after(&self, now: u64) -> Option<u64> {
        let (raw, p) = self.settled_published();
        let w = Word::unpack(raw);
        match w.state {
            State::Closed | State::MetricsOnly | State::Disabled => Some(0),
            State::ForcedOpen => None,
            State::Open => Some(p.entered_at.saturating_add(p.open_ns).saturating_sub(now)),
            State::HalfOpen if !trials_full(&w, self.core.cfg.half_open_permits) => Some(0),
            State::HalfOpen => {
                let lapse_at = self.lease_end();
                if now < lapse_at {
                    Some(lapse_at - now)
                } else {
                    Some(self.core.cfg.grown_open_ns(p.open_ns))
                }
            }
        }
    }

    /// A snapshot of the breaker at `now`. O(buckets).
    ///
    /// In Closed and MetricsOnly the window is the current generation's. In the other states
    /// it is the window of the last generation that recorded (the one that tripped it, say),
    /// ageing out with time, while fewer than 65,536 transitions separate it from the current
    /// generation; beyond that it is empty.
    pub fn snapshot(&self, now: u64) -> Metrics {
        let (raw, p) = self.settled_published();
        let w = Word::unpack(raw);
        let wgen = if w.state.records() {
            Some(w.gen_)
        } else {
            Some(p.window_gen).filter(|g| w.gen_.wrapping_sub(*g) < window::GEN_STAMP_SPAN)
        };
        let c = match wgen {
            Some(g) => window::counts(&self.ring, &self.core.cfg, g, now),
            None => window::Counts::default(),
        };
        let calls = c.successes + c.failures;
        let rate = |n: u64| if calls == 0 { 0.0 } else { n as f64 / calls as f64 };
        Metrics {
            state: self.effective(raw, Some(p), now),
            generation: w.gen_,
            calls,
            successes: c.successes,
            failures: c.failures,
            slow_calls: c.slow,
            failure_rate: rate(c.failures),
            slow_call_rate: rate(c.slow),
            rejected: window::rejected(&self.ring),
            stale: self.core.totals.stale.load(Ordering::Relaxed),
            time_until_half_open_ns: (w.state == State::Open)
                .then(|| p.entered_at.saturating_add(p.open_ns).saturating_sub(now)),
            open_ns: p.open_ns,
        }
    }

    /// Test support, for the C and Python front doors too: [`reset`](Self::reset), but into
    /// generation `generation` rather than the next one, so that tests can start next to the
    /// generation's wrap points (2^16 for window stamps, 2^32 for permits) without making that
    /// many transitions. Not for production use: it skips generations.
    #[doc(hidden)]
    pub fn debug_reset_to_generation(&self, generation: u32, now: u64) -> Transition {
        loop {
            let raw = self.settled();
            if let Ok(t) = self.transition_to(
                raw,
                generation,
                State::Closed,
                0,
                Reason::Reset,
                now,
                OpenNs::Base,
            ) {
                return t;
            }
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
        ("offset of Totals.stale", f(offset_of!(Totals, stale))),
        ("offset of Head.window_gen", f(offset_of!(Head, window_gen))),
        ("offset of Head.trial_at", f(offset_of!(Head, trial_at))),
        ("offset of Core.hint (period << 16 | bucket)", f(offset_of!(Core, hint))),
        ("offset of Core.trials", f(offset_of!(Core, trials))),
        ("trial-slot words", f(TRIAL_WORDS)),
        ("trial slots per half-open generation", u64::from(TRIAL_SLOTS)),
        ("half-open trial word encoding (seq, successes, out)", 0x0a_09_09),
        ("size of Bucket", f(size_of::<Bucket>())),
        ("bucket words (period, 3 counters, rejected)", 5),
        ("align of Bucket", f(align_of::<Bucket>())),
        ("offset of the ring", f(crate::placement::ring_offset(1))),
        ("initial state word", Word::initial().pack()),
        ("pending bit of the state word", PENDING),
    ]
}

/// Byte offset of the `Config` inside a breaker block (for checking a shared block's config
/// before building a reference to it).
#[cfg(all(feature = "std", unix))]
pub(crate) const SHARED_CONFIG_OFFSET: usize = core::mem::offset_of!(Core, cfg);
// ---- end of the shared-memory block. ------------------------------------------------------
