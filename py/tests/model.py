"""A small, obviously-correct sequential reference model of a breaker (a plain list of
timestamped records), written independently of the Rust core, for the state-machine test."""

from __future__ import annotations

from dataclasses import dataclass, field

from ringbreaker import State


@dataclass
class Params:
    window_ns: int
    buckets: int
    minimum_calls: int
    failure_rate: float
    slow_rate: float
    slow_ns: int | None
    consecutive: int | None
    permits: int
    open_ns: int
    max_open_ns: int
    backoff: float
    half_open_timeout_ns: int

    @property
    def width(self) -> int:
        return self.window_ns // self.buckets


@dataclass
class Rec:
    t: int
    generation: int
    failure: bool
    slow: bool


@dataclass
class Model:
    p: Params
    state: State = State.CLOSED
    generation: int = 1
    window_gen: int = 1
    entered_at: int = 0
    open_ns: int = 0
    issued: int = 0
    successes: int = 0
    streak: tuple[int, int] = (0, 0)
    records: list[Rec] = field(default_factory=list)
    rejected: int = 0
    stale: int = 0

    def __post_init__(self) -> None:
        self.open_ns = self.p.open_ns

    def counts(self, g: int, now: int) -> tuple[int, int, int]:
        c = now // self.p.width
        rs = [r for r in self.records if r.generation == g and 0 <= c - r.t // self.p.width < self.p.buckets]
        f = sum(r.failure for r in rs)
        return len(rs) - f, f, sum(r.slow for r in rs)

    def go(self, to: State, reason: str, now: int, issued: int = 0) -> tuple[State, State, int, int, str]:
        frm = self.state
        if reason in ("trial_failed", "half_open_timeout"):
            grown = int(self.open_ns * self.p.backoff)
            self.open_ns = min(max(grown, self.open_ns), self.p.max_open_ns)
        elif reason != "open_elapsed":
            self.open_ns = self.p.open_ns
        self.generation += 1
        if to in (State.CLOSED, State.METRICS_ONLY):
            self.window_gen = self.generation
        self.state, self.entered_at, self.issued, self.successes = to, now, issued, 0
        return (frm, to, self.generation, now, reason)

    def acquire(self, now: int) -> tuple[tuple[int, int] | None, list[tuple[State, State, int, int, str]]]:
        """((generation, kind) or None if rejected, transitions)."""
        g = self.generation
        if self.state in (State.CLOSED, State.METRICS_ONLY):
            return (g, 0), []
        if self.state == State.DISABLED:
            return (g, 2), []
        if self.state == State.FORCED_OPEN:
            self.rejected += 1
            return None, []
        if self.state == State.OPEN:
            if now < self.entered_at + self.open_ns:
                self.rejected += 1
                return None, []
            t = self.go(State.HALF_OPEN, "open_elapsed", now, issued=1)
            return (self.generation, 1), [t]
        if self.issued < self.p.permits:
            self.issued += 1
            return (g, 1), []
        self.rejected += 1
        if now - self.entered_at >= self.p.half_open_timeout_ns:
            return None, [self.go(State.OPEN, "half_open_timeout", now)]
        return None, []

    def record(
        self, permit: tuple[int, int], success: bool | None, dur: int, now: int
    ) -> list[tuple[State, State, int, int, str]]:
        gen, _kind = permit
        if gen != self.generation:
            self.stale += 1
            return []
        slow = self.p.slow_ns is not None and dur >= self.p.slow_ns
        if self.state in (State.CLOSED, State.METRICS_ONLY):
            if success is None:
                return []
            failure = not success
            self.records.append(Rec(now, self.generation, failure, slow))
            if self.state != State.CLOSED:
                return []
            hit = False
            if self.p.consecutive is not None:
                g = self.generation
                n = (self.streak[1] + 1 if self.streak[0] == g else 1) if failure else 0
                self.streak = (g, n)
                hit = failure and n >= self.p.consecutive
            if not failure and not slow:
                return []
            if hit:
                reason = "consecutive_failures"
            else:
                s, f, sl = self.counts(self.generation, now)
                calls = s + f
                if calls == 0 or calls < self.p.minimum_calls:
                    return []
                if f >= self.p.failure_rate * calls:
                    reason = "failure_rate"
                elif self.p.slow_ns is not None and sl >= self.p.slow_rate * calls:
                    reason = "slow_call_rate"
                else:
                    return []
            return [self.go(State.OPEN, reason, now)]
        if self.state == State.HALF_OPEN:
            if success is None:
                self.issued = max(0, self.issued - 1)
                return []
            if not success or slow:
                return [self.go(State.OPEN, "trial_failed", now)]
            if self.successes + 1 < self.p.permits:
                self.successes += 1
                return []
            return [self.go(State.CLOSED, "trials_succeeded", now)]
        return []

    def manual(self, op: str, now: int) -> list[tuple[State, State, int, int, str]]:
        to, skip = {
            "trip": (State.OPEN, self.state in (State.OPEN, State.FORCED_OPEN)),
            "force_open": (State.FORCED_OPEN, self.state == State.FORCED_OPEN),
            "disable": (State.DISABLED, self.state == State.DISABLED),
            "metrics_only": (State.METRICS_ONLY, self.state == State.METRICS_ONLY),
            "reset": (State.CLOSED, False),
        }[op]
        return [] if skip else [self.go(to, op, now)]

    def metrics(self, now: int) -> tuple[object, ...]:
        wg = self.generation if self.state in (State.CLOSED, State.METRICS_ONLY) else self.window_gen
        s, f, slow = self.counts(wg, now)
        calls = s + f
        rate = (lambda n: n / calls) if calls else (lambda n: 0.0)
        until = max(0, self.entered_at + self.open_ns - now) if self.state == State.OPEN else None
        return (self.state, self.generation, calls, s, f, slow, rate(f), rate(slow), self.rejected, self.stale, until)
