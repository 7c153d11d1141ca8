//! The rolling window: a fixed ring of buckets of atomic counters.
//!
//! A record made at time `t` belongs to period `t / width`, which lives in bucket
//! `period % buckets` of the recording thread's stripe. A ring of `stripes` stripes is
//! `stripes` copies of the bucket ring laid end to end (stripe `s` owns slots `s × buckets ..
//! (s + 1) × buckets`); every stripe follows the rules below on its own, and every reader
//! ([`counts`], [`retire_aliases`]) walks the whole ring, so a total is the sum over stripes
//! and each record is in exactly one of them.
//!
//! Each bucket holds the full period it was last advanced to (`period`) and three counter
//! words (successes, failures, slow calls). A counter word packs a 32-bit stamp — the low 16
//! bits of the breaker generation and of the period it counts — with a 32-bit count:
//!
//! ```text
//! bits 63..48 generation (low 16)   bits 47..32 period (low 16)   bits 31..0 count
//! ```
//!
//! Why the stamp: every counter change is a compare-and-swap that checks it, so
//! * a bucket is reset lazily and idempotently — the first record of a new period swaps the
//!   old stamp for the new one with count 0, and every later rotator finds it done (W1);
//! * an outcome whose permit belongs to an older generation can only ever land in words stamped
//!   with that generation, which the current window ignores (T4);
//! * a count at `u32::MAX` stays there rather than carrying into the stamp (W3).
//!
//! `period` is published (with `fetch_max`, release) only after all three words of the bucket
//! have been rotated, so a reader that sees `period == p` sees every word stamped `p` or later.
//! A snapshot at `now` includes a bucket only if its period lies in the window ending at
//! `now / width`, and a word only if its stamp matches, so nothing older than the window is ever
//! counted (W2).
//!
//! A record whose period is older than its bucket's (its thread's clock is behind another's by a
//! whole window) is counted in the bucket's current period: counted once, in a later period,
//! never lost and never in an expired one.
//!
//! Generations alias in 16 bits: generation `g + 65,536` has `g`'s stamp. The window stays
//! exact anyway because a transition into a recording state (a new window) first retires every
//! word carrying the new generation's stamp bits ([`retire_aliases`]), before its
//! compare-and-swap on the state word makes the new generation current; after that only the
//! new generation writes its stamp. The one thing this cannot cover is a recorder that read
//! the state word and then stalls, between two instructions, across 65,536 transitions — the
//! reason the full 32-bit generation is still checked before every count and overwrite.
//! Under loom the stamp keeps 2 bits of the generation, so the models reach aliasing in four
//! transitions.
//!
//! Threads' clocks may disagree by up to 65,535 bucket widths (the period field's span).
//!
//! A trip decision reads every bucket after its own count, and another recorder may have
//! counted in another word (another stripe, or another period when clocks disagree) and be
//! reading ours: the store-buffering pattern, in which acquire/release lets each miss the
//! other's count, so a trip the window calls for could be missed by both. The decision
//! therefore puts a `SeqCst` fence between its count and its reads (`Breaker::decide_trip`):
//! of two such fences one comes first, and the reads after the later one see the count before
//! the earlier. Only failures and slow calls decide, so successes never pay for the fence.

use crossbeam_utils::CachePadded;

use crate::config::Config;
use crate::sync::{AtomicU64, Ordering};

const COUNT_MASK: u64 = 0xFFFF_FFFF;
const STAMP_MASK: u64 = !COUNT_MASK;
/// Counts saturate here (W3).
pub(crate) const COUNT_MAX: u64 = COUNT_MASK;

pub(crate) const SUCCESSES: usize = 0;
pub(crate) const FAILURES: usize = 1;
pub(crate) const SLOW: usize = 2;

/// One slot of the ring. Opaque: it is public only so that [`StaticBreaker`] can name its
/// array length in a `static`.
///
/// [`StaticBreaker`]: crate::StaticBreaker
#[repr(transparent)]
pub struct Bucket(CachePadded<Slot>);

#[repr(C)]
pub(crate) struct Slot {
    period: AtomicU64,
    words: [AtomicU64; 3],
    /// Rejections counted by the threads whose number maps to this slot (`count_rejected`),
    /// in the line's padding. Cumulative, never windowed.
    rejected: AtomicU64,
}

impl Bucket {
    /// An empty bucket.
    #[cfg(not(ringbreaker_loom))]
    pub(crate) const fn new() -> Self {
        Bucket(CachePadded::new(Slot {
            period: AtomicU64::new(0),
            words: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            rejected: AtomicU64::new(0),
        }))
    }

    /// An empty bucket (loom's atomics are not `const`).
    #[cfg(ringbreaker_loom)]
    pub(crate) fn new() -> Self {
        Bucket(CachePadded::new(Slot {
            period: AtomicU64::new(0),
            words: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            rejected: AtomicU64::new(0),
        }))
    }
}

impl core::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bucket")
            .field("period", &self.0.period.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The generation bits a stamp keeps: 16, or 2 under loom so models can reach aliasing.
#[cfg(not(ringbreaker_loom))]
const GEN_STAMP_MASK: u64 = 0xFFFF;
#[cfg(ringbreaker_loom)]
const GEN_STAMP_MASK: u64 = 0x3;
const GEN_FIELD: u64 = GEN_STAMP_MASK << 48;
const PERIOD_FIELD: u64 = 0xFFFF << 32;

/// Generations this far apart share a stamp. A snapshot outside a recording state shows the
/// last window only while fewer transitions than this separate it from the current generation.
pub(crate) const GEN_STAMP_SPAN: u32 = GEN_STAMP_MASK as u32 + 1;

#[inline]
const fn stamp(gen_: u32, period: u64) -> u64 {
    (((gen_ as u64) & GEN_STAMP_MASK) << 48) | ((period & 0xFFFF) << 32)
}

/// The full period of word `w`, given a period `base` it cannot be earlier than and is within
/// 65,535 periods of.
#[inline]
const fn word_period(w: u64, base: u64) -> u64 {
    let lo = (w >> 32) as u16;
    base + lo.wrapping_sub(base as u16) as u64
}

/// The ring slot of bucket `idx` (`p % buckets`) in stripe `stripe`: stripe `s` owns slots
/// `s × buckets .. (s + 1) × buckets`.
#[inline(always)]
fn slot_index(cfg: &Config, idx: u64, stripe: u32) -> usize {
    stripe as usize * cfg.buckets as usize + idx as usize
}

/// The latest period a record rotated a bucket into, with its bucket index: `p << 16 | p %
/// buckets`. A record whose time falls in that period takes both from here — one load and a
/// multiply — instead of computing `now / width` and `p % buckets` (two reciprocal
/// multiplications and their corrections, measured 5.4 → 3.9 ns of a 5.4 ns acquire + record).
/// Only a cache: every use checks `p × width <= now < (p + 1) × width`, so a stale or raced
/// value costs the divisions and never a wrong bucket. Written (`fetch_max`, so it only moves
/// forward) by the rotation that publishes a period, for periods below 2^48. Under loom it is
/// left out: it adds an atomic to every modelled record and no ordering depends on it.
pub(crate) struct PeriodHint(#[cfg(not(ringbreaker_loom))] AtomicU64);

impl PeriodHint {
    #[cfg(not(ringbreaker_loom))]
    pub(crate) const fn new() -> Self {
        PeriodHint(AtomicU64::new(0))
    }

    #[cfg(ringbreaker_loom)]
    pub(crate) const fn new() -> Self {
        PeriodHint()
    }

    /// `(now / width, (now / width) % buckets)`.
    #[inline(always)]
    fn locate(&self, cfg: &Config, now: u64) -> (u64, u64) {
        #[cfg(not(ringbreaker_loom))]
        {
            let h = self.0.load(Ordering::Relaxed);
            let (p, idx) = (h >> 16, h & 0xFFFF);
            let width = cfg.width.divisor();
            // `p × width` cannot overflow: every stored `p` is some `t / width`.
            if now.wrapping_sub(p.wrapping_mul(width)) < width {
                return (p, idx);
            }
        }
        let (p, _) = cfg.width.div_rem(now);
        let (_, idx) = cfg.ring.div_rem(p);
        (p, idx)
    }

    /// Period `p` (in bucket `idx`) was just published.
    #[inline]
    fn note(&self, p: u64, idx: u64) {
        #[cfg(not(ringbreaker_loom))]
        {
            let v = p << 16 | idx;
            // A load first: once the hint has moved past `p`, nothing is written.
            if p < 1 << 48 && self.0.load(Ordering::Relaxed) < v {
                self.0.fetch_max(v, Ordering::Relaxed);
            }
        }
        #[cfg(ringbreaker_loom)]
        let _ = (p, idx);
    }
}

impl core::fmt::Debug for PeriodHint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PeriodHint")
    }
}

/// Count one rejection, in the slot of the ring picked by `thread`'s number (see
/// `sync::thread_stripe`). Every slot of the ring — every bucket of every stripe, each on its
/// own cache line — carries a rejection counter, so threads rejected by an open breaker spread
/// over up to `buckets × stripes` lines instead of contending for one, whether or not the
/// window is striped. Consecutive thread numbers land far apart (a golden-ratio step), and the
/// multiply-shift maps a number to a slot without a division.
#[inline]
pub(crate) fn count_rejected(ring: &[Bucket], thread: u32) {
    let spread = thread.wrapping_mul(0x9E37_79B9);
    let idx = ((u64::from(spread) * ring.len() as u64) >> 32) as usize;
    if let Some(b) = ring.get(idx) {
        b.0.rejected.fetch_add(1, Ordering::Relaxed);
    }
}

/// Rejections counted so far, summed over the ring.
pub(crate) fn rejected(ring: &[Bucket]) -> u64 {
    ring.iter().fold(0u64, |t, b| t.saturating_add(b.0.rejected.load(Ordering::Relaxed)))
}

/// The record's permit belongs to a generation that is no longer current.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stale;

/// Window totals for one generation at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// Add one record of generation `gen_` made at `now` to `ring`: one to counter `kind`
/// (`SUCCESSES` or `FAILURES`), and one to `SLOW` when `slow`. `current_gen` reads the
/// breaker's generation; it is consulted only before overwriting a word stamped with another
/// generation.
#[inline]
#[expect(
    clippy::too_many_arguments,
    reason = "one record's facts, passed in registers on the hot path rather than packed into a struct"
)]
pub(crate) fn add(
    ring: &[Bucket],
    cfg: &Config,
    current_gen: impl Fn() -> u32,
    gen_: u32,
    now: u64,
    kind: usize,
    slow: bool,
    stripe: u32,
    hint: &PeriodHint,
) -> Result<(), Stale> {
    let (p, idx) = hint.locate(cfg, now);
    // The index is below `ring.len()` (`buckets × stripes`, `stripe < stripes`); `get` keeps
    // the hot path free of a panic branch.
    let Some(bucket) = ring.get(slot_index(cfg, idx, stripe)) else {
        return Ok(());
    };
    let slot = &*bucket.0;
    loop {
        let key = slot.period.load(Ordering::Acquire);
        if key < p {
            // `all` stops at the first word whose rotation found the key moved on: then the
            // bucket is re-read rather than published.
            if slot.words.iter().all(|w| advance(slot, w, key, gen_, p)) {
                slot.period.fetch_max(p, Ordering::AcqRel);
                hint.note(p, idx);
            }
            continue;
        }
        // key >= p: count in the bucket's current period (later than p only when this
        // thread's clock is a whole window behind another's).
        if !bump(&slot.words[kind], gen_, key, &current_gen)? {
            continue;
        }
        if slow && !bump(&slot.words[SLOW], gen_, key, &current_gen)? {
            // The bucket moved on between the two bumps: the slow mark follows it.
            return add_slow_only(slot, gen_, &current_gen);
        }
        return Ok(());
    }
}

/// The common case of [`add`] alone, for the hot path: the bucket for `now` already holds
/// `now`'s period and word `kind` carries generation `gen_`'s stamp with room to count, so one
/// compare-and-swap adds the record — exactly what [`add`] does in that case. `false` when any
/// of that does not hold; nothing has changed then, and the caller takes [`add`], which handles
/// every case.
#[inline(always)]
pub(crate) fn try_add_fast(
    ring: &[Bucket],
    cfg: &Config,
    gen_: u32,
    now: u64,
    kind: usize,
    stripe: u32,
    hint: &PeriodHint,
) -> bool {
    let (p, idx) = hint.locate(cfg, now);
    let Some(bucket) = ring.get(slot_index(cfg, idx, stripe)) else {
        return false;
    };
    let slot = &*bucket.0;
    if slot.period.load(Ordering::Acquire) != p {
        return false;
    }
    let Some(w) = slot.words.get(kind) else {
        return false;
    };
    let want = stamp(gen_, p);
    let mut cur = w.load(Ordering::Acquire);
    // A lost race with another counter of the same word (the contended case) retries on the
    // value the failed swap returned, as `bump` does, without leaving the fast path.
    while cur & STAMP_MASK == want && cur & COUNT_MASK != COUNT_MAX {
        match w.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
    false
}

/// Rare path: a bucket advanced between counting a call and counting it as slow.
#[cold]
fn add_slow_only(slot: &Slot, gen_: u32, current_gen: &impl Fn() -> u32) -> Result<(), Stale> {
    loop {
        let key = slot.period.load(Ordering::Acquire);
        if bump(&slot.words[SLOW], gen_, key, current_gen)? {
            return Ok(());
        }
    }
}

/// Make sure word `w` counts period `p` or later. Every word of a bucket goes through this
/// before the bucket's `period` is advanced to `p`.
///
/// The word's period is read relative to the bucket's published period `key`, which is exact
/// for words in `key..key + 65,536`. A word further ahead can only have been advanced by a
/// rotator that has since published a later `key` — and only after publishing does anyone
/// count in it — so the key is re-read after every load of the word: if it moved, this
/// rotation is stale and the caller starts over (after a bucket sat idle for 65,536 periods,
/// two racing rotators could otherwise reset a count the first one had already made).
/// `false` when the key moved on (nothing was written then).
#[inline]
fn advance(slot: &Slot, w: &AtomicU64, key: u64, gen_: u32, p: u64) -> bool {
    let mut cur = w.load(Ordering::Acquire);
    while word_period(cur, key) < p {
        if slot.period.load(Ordering::Acquire) != key {
            return false;
        }
        match w.compare_exchange_weak(cur, stamp(gen_, p), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
    true
}

/// Before generation `new_gen` starts a window (while `old_gen` is still current): give every
/// word that carries `new_gen`'s stamp bits — an older generation's counts, since `new_gen`
/// has recorded nothing yet — `old_gen`'s stamp and a count of 0. Counts of `old_gen` are in
/// words stamped `old_gen`, which this leaves alone. O(buckets); run on transitions only.
pub(crate) fn retire_aliases(ring: &[Bucket], new_gen: u32, old_gen: u32) {
    let alias = stamp(new_gen, 0) & GEN_FIELD;
    let retired = stamp(old_gen, 0) & GEN_FIELD;
    for bucket in ring {
        for w in &bucket.0.words {
            let mut cur = w.load(Ordering::Acquire);
            while cur & GEN_FIELD == alias {
                let next = retired | (cur & PERIOD_FIELD);
                match w.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        }
    }
}

/// Add one to word `w` for generation `gen_` in period `key` (the bucket's published period).
/// `Ok(false)` when the word has already moved to a later period: the caller re-reads the
/// bucket.
#[inline]
fn bump(w: &AtomicU64, gen_: u32, key: u64, current_gen: &impl Fn() -> u32) -> Result<bool, Stale> {
    let want = stamp(gen_, key);
    let mut cur = w.load(Ordering::Acquire);
    loop {
        let next = if cur & STAMP_MASK == want {
            if cur & COUNT_MASK == COUNT_MAX {
                return Ok(true);
            }
            cur + 1
        } else if word_period(cur, key) != key {
            return Ok(false);
        } else {
            // Same period, another generation: the word holds an older generation's counts,
            // unless we are the older one. Only the current generation may overwrite it.
            if current_gen() != gen_ {
                return Err(Stale);
            }
            want | 1
        };
        match w.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(true),
            Err(actual) => cur = actual,
        }
    }
}

/// Totals of generation `gen_`'s records over the window ending at `now`.
pub(crate) fn counts(ring: &[Bucket], cfg: &Config, gen_: u32, now: u64) -> Counts {
    let (c, _) = cfg.width.div_rem(now);
    let n = cfg.buckets as u64;
    let mut t = [0u64; 3];
    for bucket in ring {
        let slot = &*bucket.0;
        let key = slot.period.load(Ordering::Acquire);
        if key > c || c - key >= n {
            continue;
        }
        let want = stamp(gen_, key);
        for (total, w) in t.iter_mut().zip(&slot.words) {
            let v = w.load(Ordering::Acquire);
            if v & STAMP_MASK == want {
                *total += v & COUNT_MASK;
            }
        }
    }
    Counts { successes: t[SUCCESSES], failures: t[FAILURES], slow: t[SLOW] }
}

/// Test support: set the counts of the bucket for `now` as if that many records of generation
/// `gen_` had been made, so saturation can be tested without four billion records.
#[cfg(any(test, ringbreaker_loom))]
pub(crate) fn preload(ring: &[Bucket], cfg: &Config, gen_: u32, now: u64, counts: [u64; 3]) {
    let (p, _) = cfg.width.div_rem(now);
    let (_, idx) = cfg.ring.div_rem(p);
    let slot = &*ring[slot_index(cfg, idx, 0)].0;
    for (w, c) in slot.words.iter().zip(counts) {
        w.store(stamp(gen_, p) | c.min(COUNT_MAX), Ordering::Release);
    }
    slot.period.store(p, Ordering::Release);
}

#[cfg(all(test, not(ringbreaker_loom)))]
mod hint_tests {
    use super::PeriodHint;
    use crate::config::Config;
    use proptest::prelude::*;

    fn exact(cfg: &Config, now: u64) -> (u64, u64) {
        let p = now / cfg.bucket_ns();
        (p, p % u64::from(cfg.buckets()))
    }

    proptest! {
        /// Whatever periods were noted before, in any order, the hint's answer is the division's.
        #[test]
        fn locate_is_the_division_whatever_was_noted(
            buckets in 1u32..64,
            width in 1u64..5_000_000_000,
            noted in proptest::collection::vec(any::<u64>(), 0..6),
            now in any::<u64>(),
            near in 0usize..8,
        ) {
            let cfg = Config::builder()
                .window_ns(width * u64::from(buckets))
                .buckets(buckets)
                .build();
            prop_assume!(cfg.is_ok());
            let cfg = cfg.unwrap();
            let hint = PeriodHint::new();
            for t in noted {
                let (p, idx) = exact(&cfg, t);
                hint.note(p, idx);
            }
            // Most cases ask for a time at the edges of the noted period.
            let start = (hint.0.load(core::sync::atomic::Ordering::Relaxed) >> 16) * width;
            let now = match near {
                0 => start,
                1 => start + width - 1,
                2 => start + width,
                3 => start.saturating_sub(1),
                4 => start + now % width,
                _ => now,
            };
            prop_assert_eq!(hint.locate(&cfg, now), exact(&cfg, now));
        }
    }

    #[test]
    fn periods_from_2_48_are_not_noted_and_still_located() {
        let cfg = Config::builder().window_ns(10).buckets(10).build().unwrap();
        let hint = PeriodHint::new();
        hint.note(1 << 48, (1 << 48) % 10);
        assert_eq!(hint.0.load(core::sync::atomic::Ordering::Relaxed), 0);
        assert_eq!(hint.locate(&cfg, (1 << 48) + 5), ((1 << 48) + 5, ((1 << 48) + 5) % 10));
        assert_eq!(hint.locate(&cfg, u64::MAX), (u64::MAX, u64::MAX % 10));
    }
}
