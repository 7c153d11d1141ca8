//! The reference model: the contract of `DESIGN.md`, sequentially, in one place.
//!
//! It shares no code with the core. Records are kept as a plain list and every window is
//! recomputed from it; a record is tagged with the *epoch* (a count of transitions that never
//! wraps), so the model cannot alias generations the way packed stamps could. Time never goes
//! backwards within a sequence.

use crate::ops::{Action, Kind, Obs, Op, Outcome, Params, Reason, Refusal, Snap, State, Tr};

/// Generations this far apart may share a window stamp: outside a recording state a snapshot
/// shows the last window only while fewer transitions than this separate the two.
pub const WINDOW_SPAN: u32 = 1 << 16;
/// Trial permits one half-open generation can issue, hand-backs included.
pub const TRIAL_SLOTS: u32 = 1023;

#[derive(Clone, Debug)]
struct Rec {
    t: u64,
    epoch: u64,
    failure: bool,
    slow: bool,
}

/// A permit as the model remembers it.
#[derive(Clone, Debug)]
pub struct Issued {
    /// Generation it was issued in.
    pub generation: u32,
    /// Its kind.
    pub kind: Kind,
    /// Its trial slot.
    pub slot: u16,
    /// Whether this permit object has been recorded.
    pub recorded: bool,
}

/// The model breaker.
#[derive(Clone, Debug)]
pub struct Model {
    p: Params,
    state: State,
    generation: u32,
    epoch: u64,
    entered_at: u64,
    open_ns: u64,
    window: Option<(u32, u64)>, // (generation, epoch) of the last recording generation
    records: Vec<Rec>,
    streak: u32,
    ho_out: u32,
    ho_seq: u32,
    ho_successes: u32,
    trial_at: u64,
    reported: Vec<u16>,
    rejected: u64,
    stale: u64,
    /// Permits issued so far, in order.
    pub permits: Vec<Issued>,
}

impl Model {
    /// A fresh breaker: Closed, generation 1.
    pub fn new(p: Params) -> Model {
        let open_ns = p.open_ns;
        Model {
            p,
            state: State::Closed,
            generation: 1,
            epoch: 0,
            entered_at: 0,
            open_ns,
            window: Some((1, 0)),
            records: Vec::new(),
            streak: 0,
            ho_out: 0,
            ho_seq: 0,
            ho_successes: 0,
            trial_at: 0,
            reported: Vec::new(),
            rejected: 0,
            stale: 0,
            permits: Vec::new(),
        }
    }

    /// The current generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Apply one operation and return what the caller observes.
    pub fn apply(&mut self, op: &Op) -> Obs {
        match *op {
            Op::Acquire { now } => self.acquire(now),
            Op::Record { permit, outcome, duration_ns, now } => {
                let Some(issued) = self.permits.get_mut(permit) else {
                    return Obs::Refused { error: Refusal::NoSuchPermit };
                };
                if issued.recorded {
                    return Obs::Refused { error: Refusal::AlreadyRecorded };
                }
                issued.recorded = true;
                let issued = issued.clone();
                self.record(&issued, outcome, duration_ns, now)
            }
            Op::RecordCopy { permit, outcome, now } => {
                let Some(issued) = self.permits.get(permit).cloned() else {
                    return Obs::Refused { error: Refusal::NoSuchPermit };
                };
                self.record(&issued, outcome, None, now)
            }
            Op::RecordForeign { .. } => Obs::Refused { error: Refusal::ForeignPermit },
            Op::Manual { action, now } => Obs::Manual { transition: self.manual(action, now) },
            Op::Cycle { pairs, now } => {
                let mut last = None;
                for _ in 0..pairs {
                    last = self.manual(Action::Disable, now).or(last);
                    last = self.manual(Action::Reset, now).or(last);
                }
                Obs::Manual { transition: last }
            }
            Op::SetGeneration { generation, now } => {
                let t = self.enter(State::Closed, Reason::Reset, now, Some(generation));
                Obs::Manual { transition: Some(t) }
            }
            Op::Snapshot { now } => Obs::Snapshot(self.snapshot(now)),
            Op::State { now } => Obs::State { state: self.effective(now) },
            Op::RetryAfter { now } => Obs::RetryAfter { retry_after_ns: self.retry_after(now) },
        }
    }

    /// Move to `to`: a new generation (or `generation`), the entry time, and what the state
    /// starts with. The open duration is set by the caller where it changes.
    fn enter(&mut self, to: State, reason: Reason, now: u64, generation: Option<u32>) -> Tr {
        let from = self.state;
        self.generation = generation.unwrap_or(self.generation.wrapping_add(1));
        self.epoch += 1;
        self.state = to;
        self.entered_at = now;
        if to.records() {
            self.window = Some((self.generation, self.epoch));
            self.streak = 0;
        }
        self.ho_out = 0;
        self.ho_seq = 0;
        self.ho_successes = 0;
        self.reported.clear();
        if to == State::HalfOpen {
            // The entering call takes the first trial permit; its lease starts now.
            self.ho_out = 1;
            self.ho_seq = 1;
            self.trial_at = now;
        }
        // Manual operations, trips from Closed and closing all reset the open duration;
        // Open → HalfOpen keeps it; failed and lapsed trials grow it (set by their callers).
        if !(from == State::Open && to == State::HalfOpen) {
            self.open_ns = self.p.open_ns;
        }
        Tr { from, to, generation: self.generation, at: now, reason }
    }

    /// `ceil(current × multiplier)`, at least `current`, at most the cap.
    fn grown(&self, current: u64) -> u64 {
        let product = current as f64 * self.p.backoff_multiplier;
        let mut g = product as u64;
        if (g as f64) < product {
            g = g.saturating_add(1);
        }
        g.max(current).min(self.p.max_open_ns.unwrap_or(u64::MAX))
    }

    fn reopen(&mut self, reason: Reason, now: u64) -> Tr {
        let grown = self.grown(self.open_ns);
        let t = self.enter(State::Open, reason, now, None);
        self.open_ns = grown;
        t
    }

    fn trials_full(&self) -> bool {
        self.ho_out >= self.p.half_open_permits || self.ho_seq >= TRIAL_SLOTS
    }

    fn lease_end(&self) -> u64 {
        self.trial_at.saturating_add(self.p.lease_ns())
    }

    fn open_until(&self) -> u64 {
        self.entered_at.saturating_add(self.open_ns)
    }

    fn acquire(&mut self, now: u64) -> Obs {
        let permit = |m: &mut Model, kind, slot, transition| {
            m.permits.push(Issued { generation: m.generation, kind, slot, recorded: false });
            Obs::Permit { kind, generation: m.generation, slot, transition }
        };
        match self.state {
            State::Closed | State::MetricsOnly => permit(self, Kind::Normal, 0, None),
            State::Disabled => permit(self, Kind::Passthrough, 0, None),
            State::ForcedOpen => self.reject(State::ForcedOpen, None, None),
            State::Open if now < self.open_until() => {
                let retry = self.open_until() - now;
                self.reject(State::Open, Some(retry), None)
            }
            State::Open => {
                let t = self.enter(State::HalfOpen, Reason::OpenElapsed, now, None);
                permit(self, Kind::Trial, 0, Some(t))
            }
            State::HalfOpen if !self.trials_full() => {
                let slot = self.ho_seq as u16;
                self.ho_out += 1;
                self.ho_seq += 1;
                self.trial_at = self.trial_at.max(now);
                permit(self, Kind::Trial, slot, None)
            }
            State::HalfOpen if now < self.lease_end() => {
                let retry = self.lease_end() - now;
                self.reject(State::HalfOpen, Some(retry), None)
            }
            State::HalfOpen => {
                let t = self.reopen(Reason::HalfOpenTimeout, now);
                let retry = self.open_ns;
                self.reject(State::Open, Some(retry), Some(t))
            }
        }
    }

    fn reject(&mut self, state: State, retry_after_ns: Option<u64>, transition: Option<Tr>) -> Obs {
        self.rejected += 1;
        Obs::Rejected { state, retry_after_ns, transition }
    }

    fn record(
        &mut self,
        permit: &Issued,
        outcome: Outcome,
        duration_ns: Option<u64>,
        now: u64,
    ) -> Obs {
        let slow =
            self.p.slow_call_ns != 0 && duration_ns.is_some_and(|d| d >= self.p.slow_call_ns);
        if permit.generation != self.generation {
            self.stale += 1;
            return Obs::Recorded { transition: None };
        }
        let transition = match (self.state, permit.kind) {
            (State::Closed | State::MetricsOnly, Kind::Normal) => self.count(outcome, slow, now),
            (State::Disabled, Kind::Passthrough) => None,
            (State::HalfOpen, Kind::Trial) if u32::from(permit.slot) >= self.ho_seq => {
                self.stale += 1;
                None
            }
            (State::HalfOpen, Kind::Trial) => {
                if self.reported.contains(&permit.slot) {
                    return Obs::Refused { error: Refusal::AlreadyRecorded };
                }
                self.reported.push(permit.slot);
                self.trial(outcome, slow, now)
            }
            _ => {
                self.stale += 1;
                None
            }
        };
        Obs::Recorded { transition }
    }

    /// An outcome in Closed or MetricsOnly.
    fn count(&mut self, outcome: Outcome, slow: bool, now: u64) -> Option<Tr> {
        let failure = match outcome {
            Outcome::Ignored => return None,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        self.records.push(Rec { t: now, epoch: self.epoch, failure, slow });
        if self.state != State::Closed {
            return None;
        }
        self.streak = if failure { self.streak.saturating_add(1) } else { 0 };
        if !failure && !slow {
            return None; // a plain success never trips
        }
        let reason = if self.p.consecutive_failures != 0
            && self.streak >= self.p.consecutive_failures
        {
            Reason::ConsecutiveFailures
        } else {
            let (s, f, sl) = self.counts(self.epoch, now);
            let calls = s + f;
            if calls == 0 || calls < u64::from(self.p.minimum_calls) {
                return None;
            }
            if f as f64 >= self.p.failure_rate * calls as f64 {
                Reason::FailureRate
            } else if self.p.slow_call_ns != 0 && sl as f64 >= self.p.slow_call_rate * calls as f64
            {
                Reason::SlowCallRate
            } else {
                return None;
            }
        };
        Some(self.enter(State::Open, reason, now, None))
    }

    /// A half-open trial's outcome.
    fn trial(&mut self, outcome: Outcome, slow: bool, now: u64) -> Option<Tr> {
        match outcome {
            Outcome::Ignored => {
                self.ho_out -= 1; // handed back; its slot is not reused
                None
            }
            Outcome::Failure => Some(self.reopen(Reason::TrialFailed, now)),
            Outcome::Success if slow => Some(self.reopen(Reason::TrialFailed, now)),
            Outcome::Success => {
                self.ho_successes += 1;
                (self.ho_successes == self.p.half_open_permits)
                    .then(|| self.enter(State::Closed, Reason::TrialsSucceeded, now, None))
            }
        }
    }

    fn manual(&mut self, action: Action, now: u64) -> Option<Tr> {
        let s = self.state;
        let (to, reason, skip) = match action {
            Action::Trip => {
                (State::Open, Reason::Trip, matches!(s, State::Open | State::ForcedOpen))
            }
            Action::ForceOpen => (State::ForcedOpen, Reason::ForceOpen, s == State::ForcedOpen),
            Action::Disable => (State::Disabled, Reason::Disable, s == State::Disabled),
            Action::MetricsOnly => {
                (State::MetricsOnly, Reason::MetricsOnly, s == State::MetricsOnly)
            }
            Action::Reset => (State::Closed, Reason::Reset, false),
        };
        (!skip).then(|| self.enter(to, reason, now, None))
    }

    /// Window totals (successes, failures, slow) of the generation entered at `epoch`.
    fn counts(&self, epoch: u64, now: u64) -> (u64, u64, u64) {
        let w = self.p.width();
        let current = now / w;
        let oldest = current.saturating_sub(u64::from(self.p.buckets) - 1);
        let mut c = (0, 0, 0);
        for r in self.records.iter().filter(|r| r.epoch == epoch) {
            let period = r.t / w;
            if period < oldest || period > current {
                continue;
            }
            if r.failure {
                c.1 += 1;
            } else {
                c.0 += 1;
            }
            if r.slow {
                c.2 += 1;
            }
        }
        c
    }

    /// The state as the next acquire at `now` finds it.
    fn effective(&self, now: u64) -> State {
        match self.state {
            State::Open if now >= self.open_until() => State::HalfOpen,
            State::HalfOpen if self.trials_full() && now >= self.lease_end() => State::Open,
            s => s,
        }
    }

    fn retry_after(&self, now: u64) -> Option<u64> {
        match self.state {
            State::Closed | State::MetricsOnly | State::Disabled => Some(0),
            State::ForcedOpen => None,
            State::Open => Some(self.open_until().saturating_sub(now)),
            State::HalfOpen if !self.trials_full() => Some(0),
            State::HalfOpen if now < self.lease_end() => Some(self.lease_end() - now),
            State::HalfOpen => Some(self.grown(self.open_ns)),
        }
    }

    fn snapshot(&self, now: u64) -> Snap {
        let shown = match self.window {
            _ if self.state.records() => Some(self.epoch),
            Some((g, e)) if self.generation.wrapping_sub(g) < WINDOW_SPAN => Some(e),
            _ => None,
        };
        let (successes, failures, slow_calls) = shown.map_or((0, 0, 0), |e| self.counts(e, now));
        let calls = successes + failures;
        let rate = |n: u64| if calls == 0 { 0.0 } else { n as f64 / calls as f64 };
        Snap {
            state: self.effective(now),
            generation: self.generation,
            calls,
            successes,
            failures,
            slow_calls,
            failure_rate: rate(failures),
            slow_call_rate: rate(slow_calls),
            rejected: self.rejected,
            stale: self.stale,
            time_until_half_open_ns: (self.state == State::Open)
                .then(|| self.open_until().saturating_sub(now)),
            open_ns: self.open_ns,
        }
    }
}
