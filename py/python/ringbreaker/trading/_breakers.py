"""The facade's breakers. Each keeps its own state, evaluated lazily from the time it is
given: no breaker owns a task, a timer or a thread.

Every breaker exposes ``is_open``, ``effect`` (what it does while open), ``risk`` (0..100) and
``drain()``, the events it produced since the last drain, as ``(kind, reason, value)``."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from .. import CircuitBreaker, CircuitOpenError, ManualClock, State, Transition
from ._config import (
    CountConfig,
    DailyLossConfig,
    DrawdownConfig,
    ExposureConfig,
    KillSwitchConfig,
    MarketWideConfig,
    RateConfig,
    StalenessConfig,
    VenueHaltConfig,
    VixConfig,
)
from ._model import BreakerType, Effect, EventKind, MarketSnapshot, to_ns

Signal = tuple[EventKind, str, float | None]
NS = 1_000_000_000


class Breaker:
    """Common state: name, type, and the events not yet published."""

    __slots__ = ("name", "type", "is_open", "effect", "risk", "_pending", "_warned")

    def __init__(self, name: str, btype: BreakerType, effect: Effect) -> None:
        self.name = name
        self.type = btype
        self.is_open = False
        self.effect = effect
        self.risk = 0.0
        self._pending: list[Signal] = []
        self._warned = False

    def drain(self) -> list[Signal]:
        out, self._pending = self._pending, []
        return out

    def _open(self, reason: str, value: float | None = None, *, escalate: bool = False) -> None:
        """Open; an escalation (a higher level while already open) is reported as a new trip."""
        if not self.is_open or escalate:
            self._pending.append((EventKind.TRIP, reason, value))
        self.is_open = True

    def _close(self, reason: str, value: float | None = None) -> None:
        if self.is_open:
            self._pending.append((EventKind.RESET, reason, value))
        self.is_open = False

    def _warn(self, hot: bool, reason: str, value: float | None) -> None:
        if hot and not self._warned and not self.is_open:
            self._pending.append((EventKind.WARNING, reason, value))
        self._warned = hot

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        """Re-evaluate at `now_ns` (with a snapshot during `check`)."""

    def trip(self, now_ns: int, reason: str) -> None:
        """Open by hand."""
        self._open(reason or "manual trip")

    def reset(self, now_ns: int, reason: str) -> None:
        """Close by hand."""
        self._close(reason or "manual reset")


class RateBreaker(Breaker):
    """Order reject rate, API error rate, latency (slow calls), stop-loss streak: a core
    breaker driven by recorded results. While the core is OPEN the breaker applies its effect;
    in HALF_OPEN it reduces, so the trial orders that can close it still flow."""

    __slots__ = ("cb", "cfg", "dropped", "base_effect", "seen")

    def __init__(self, name: str, btype: BreakerType, cfg: RateConfig, clock: ManualClock) -> None:
        super().__init__(name, btype, cfg.effect)
        self.cb = CircuitBreaker(
            name,
            window=cfg.window,
            buckets=cfg.buckets,
            failure_rate=cfg.failure_rate,
            minimum_calls=cfg.minimum_calls,
            consecutive_failures=cfg.consecutive_failures,
            slow_call_duration=cfg.slow_call_duration,
            slow_call_rate=cfg.slow_call_rate,
            open_duration=cfg.open_duration,
            max_open_duration=cfg.max_open_duration,
            backoff_multiplier=cfg.backoff_multiplier,
            half_open_permits=cfg.half_open_permits,
            clock=clock,
        )
        self.cfg = cfg
        self.base_effect = cfg.effect
        self.seen = State.CLOSED  # the state last reported as an event
        self.cb.subscribe(self._on_transition)
        self.dropped = 0  # results that arrived while open (not counted by the core)
        self._refresh()

    def _report(self, state: State, reason: str) -> None:
        if state is self.seen:
            return
        self.seen = state
        if state in (State.OPEN, State.FORCED_OPEN):
            self._pending.append((EventKind.TRIP, reason, None))
        elif state is State.HALF_OPEN:
            self._pending.append((EventKind.HALF_OPEN, reason, None))
        elif state is State.CLOSED:
            self._pending.append((EventKind.RESET, reason, None))

    def _on_transition(self, t: Transition) -> None:
        self._report(t.to_state, t.note or self._describe(t.reason))
        self._refresh()

    def _describe(self, reason: str) -> str:
        """The core's reason code, in the desk's words."""
        c = self.cfg
        if reason == "failure_rate":
            return f"failure rate reached {c.failure_rate:.0%} over {c.window:g} s"
        if reason == "slow_call_rate":
            return f"{c.slow_call_rate:.0%} of calls slower than {c.slow_call_duration:g} s over {c.window:g} s"
        if reason == "consecutive_failures":
            return f"{c.consecutive_failures} failures in a row"
        return reason.replace("_", " ")

    def _refresh(self) -> None:
        state = self.cb.state
        # The core moves Open -> HalfOpen lazily, on the next acquire; a check that finds the
        # open duration over reports it now, and the core's own transition is then not repeated.
        if state is State.HALF_OPEN:
            self._report(state, "open duration elapsed")
        self.is_open = state is not State.CLOSED
        self.effect = Effect.REDUCE if state is State.HALF_OPEN else self.base_effect
        self.risk = {State.CLOSED: 0.0, State.HALF_OPEN: 40.0}.get(state, 100.0 if self.effect is Effect.HALT else 60.0)

    def record(self, success: bool, duration: float | None = None) -> None:
        try:
            permit = self.cb.try_acquire()
        except CircuitOpenError:
            self.dropped += 1
            return
        self.cb.record(permit, success=success, duration=duration)

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        self._refresh()

    def trip(self, now_ns: int, reason: str) -> None:
        self.cb.trip(reason or "manual trip")

    def reset(self, now_ns: int, reason: str) -> None:
        self.cb.reset(reason or "manual reset")


class CountBreaker(Breaker):
    """Message rate, execution throttle: trips when a count per window reaches ``max_count``.
    Latching ones stay open until a manual reset."""

    __slots__ = ("cb", "cfg")

    def __init__(self, name: str, btype: BreakerType, cfg: CountConfig, clock: ManualClock) -> None:
        super().__init__(name, btype, cfg.effect)
        self.cfg = cfg
        self.cb = CircuitBreaker(name, window=cfg.window, buckets=cfg.buckets, failure_rate=1.0,
                                 minimum_calls=2**32 - 1, open_duration=cfg.open_duration, clock=clock)

    def count(self) -> None:
        try:
            permit = self.cb.try_acquire()
        except CircuitOpenError:
            return
        self.cb.record(permit, success=True)
        if self.cb.state is State.CLOSED:
            calls = self.cb.metrics().calls
            self.risk = min(90.0, 90.0 * calls / self.cfg.max_count)
            if calls >= self.cfg.max_count:
                reason = f"{calls} in {self.cfg.window:g} s (limit {self.cfg.max_count})"
                if self.cfg.latching:
                    self.cb.force_open(reason)
                else:
                    self.cb.trip(reason)
                self._open(reason, float(calls))
        self.observe(None, 0)

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        state = self.cb.state
        if state is State.CLOSED and self.is_open:
            self._close("window elapsed")
        elif state is State.HALF_OPEN and self.is_open and not self.cfg.latching:
            self._close("open duration elapsed")
        if self.is_open:
            self.risk = 100.0 if self.effect is Effect.HALT else 60.0

    def trip(self, now_ns: int, reason: str) -> None:
        self.cb.force_open(reason) if self.cfg.latching else self.cb.trip(reason)
        self._open(reason or "manual trip")

    def reset(self, now_ns: int, reason: str) -> None:
        self.cb.reset(reason)
        self._close(reason or "manual reset")
        self.risk = 0.0


def _et_parts(now_ns: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(now_ns / NS, tz)


class MarketWideBreaker(Breaker):
    """The US market-wide circuit breaker rule, evaluated at each check's time."""

    __slots__ = ("cfg", "tz", "cutoff", "day", "fired", "halt_until_ns", "for_day")

    def __init__(self, name: str, cfg: MarketWideConfig) -> None:
        super().__init__(name, BreakerType.MARKET_WIDE, Effect.HALT)
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.timezone)
        hh, mm = (int(x) for x in cfg.cutoff.split(":"))
        self.cutoff = hh * 60 + mm
        self.day: date | None = None
        self.fired: set[int] = set()
        self.halt_until_ns = 0
        self.for_day = False

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        local = _et_parts(now_ns, self.tz)
        if local.date() != self.day:  # a new day re-arms every level
            self.day, self.fired, self.for_day, self.halt_until_ns = local.date(), set(), False, 0
            if self.is_open:
                self._close("new trading day")
        if snap is not None and snap.index_level is not None and snap.index_prior_close:
            drop = 1.0 - snap.index_level / snap.index_prior_close
            # tolerance: a level exactly at -7.00 % is a -7 % decline despite float rounding
            eps = 1e-12
            levels = (self.cfg.level1, self.cfg.level2, self.cfg.level3)
            reached = max((i + 1 for i, pct in enumerate(levels) if drop >= pct - eps), default=0)
            self.risk = 100.0 if self.is_open else min(90.0, 90.0 * max(drop, 0.0) / self.cfg.level1)
            if reached == 3 and 3 not in self.fired:
                self.fired.update((1, 2, 3))
                self.for_day = True
                self._open(f"level 3: index down {drop:.2%}, halted for the rest of the day", drop,
                           escalate=True)
            elif reached in (1, 2) and reached not in self.fired:
                self.fired.update(range(1, reached + 1))
                minutes = local.hour * 60 + local.minute
                if minutes < self.cutoff:
                    self.halt_until_ns = now_ns + int(self.cfg.halt_minutes * 60 * NS)
                    self._open(f"level {reached}: index down {drop:.2%}, halted {self.cfg.halt_minutes:g} min",
                               drop, escalate=True)
                else:
                    self._pending.append((EventKind.WARNING,
                                          f"level {reached} decline at or after {self.cfg.cutoff}: no halt", drop))
            self._warn(drop >= self.cfg.level1 * self.cfg.warn_fraction, f"index down {drop:.2%}", drop)
        if self.is_open and not self.for_day and now_ns >= self.halt_until_ns:
            self._close("halt period over")
        if self.is_open:
            self.risk = 100.0

    def reset(self, now_ns: int, reason: str) -> None:
        self.for_day, self.halt_until_ns = False, 0
        self._close(reason or "manual reset")


class VixBreaker(Breaker):
    """VIX with hysteresis: escalates at once, clears only after a quiet period."""

    __slots__ = ("cfg", "level", "below_since")

    def __init__(self, name: str, cfg: VixConfig) -> None:
        super().__init__(name, BreakerType.VIX, Effect.REDUCE)
        self.cfg = cfg
        self.level = 0
        self.below_since: int | None = None

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        vix = None if snap is None else snap.vix
        if vix is not None:
            c = self.cfg
            if vix >= c.halt_at:
                if self.level < 2:
                    self.effect = Effect.HALT
                    self._open(f"VIX {vix:.2f} >= {c.halt_at:g}", vix, escalate=True)
                self.level, self.below_since = 2, None
            elif vix >= c.reduce_at:
                if self.level < 1:
                    self.effect = Effect.REDUCE
                    self._open(f"VIX {vix:.2f} >= {c.reduce_at:g}", vix)
                self.level, self.below_since = max(self.level, 1), None
            elif vix < c.clear_below:
                if self.level > 0:
                    self.below_since = self.below_since if self.below_since is not None else now_ns
            else:
                self.below_since = None
            self.risk = {0: min(50.0, 50.0 * vix / c.reduce_at), 1: 60.0, 2: 100.0}[self.level]
            self._warn(vix >= 0.8 * c.reduce_at, f"VIX {vix:.2f}", vix)
        if self.level > 0 and self.below_since is not None and now_ns - self.below_since >= self.cfg.clear_after * NS:
            self.level, self.below_since, self.effect = 0, None, Effect.REDUCE
            self.risk = 0.0
            self._close(f"VIX below {self.cfg.clear_below:g} for {self.cfg.clear_after:g} s", vix)

    def trip(self, now_ns: int, reason: str) -> None:
        self.level, self.effect = 2, Effect.HALT
        self._open(reason or "manual trip")

    def reset(self, now_ns: int, reason: str) -> None:
        self.level, self.below_since, self.effect = 0, None, Effect.REDUCE
        self._close(reason or "manual reset")


class DailyLossBreaker(Breaker):
    """Latches until the next session (a new day in ``timezone``) or a manual reset."""

    __slots__ = ("cfg", "tz", "day")

    def __init__(self, name: str, cfg: DailyLossConfig) -> None:
        super().__init__(name, BreakerType.DAILY_LOSS, cfg.effect)
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.timezone)
        self.day: date | None = None

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        today = _et_parts(now_ns, self.tz).date()
        if today != self.day:
            self.day = today
            self._close("new session")
        if snap is not None and snap.daily_pnl is not None:
            loss = -snap.daily_pnl
            if loss >= self.cfg.limit:
                self._open(f"daily loss {loss:,.0f} >= {self.cfg.limit:,.0f}", snap.daily_pnl)
            self.risk = 100.0 if self.is_open else max(0.0, min(90.0, 90.0 * loss / self.cfg.limit))
            self._warn(loss >= self.cfg.limit * self.cfg.warn_fraction, f"daily loss {loss:,.0f}", snap.daily_pnl)


class DrawdownBreaker(Breaker):
    __slots__ = ("cfg", "hwm")

    def __init__(self, name: str, cfg: DrawdownConfig) -> None:
        super().__init__(name, BreakerType.DRAWDOWN, cfg.effect)
        self.cfg = cfg
        self.hwm = 0.0

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        if snap is None or snap.equity is None:
            return
        self.hwm = max(self.hwm, snap.equity)
        dd = 0.0 if self.hwm <= 0 else (self.hwm - snap.equity) / self.hwm
        if dd >= self.cfg.max_drawdown:
            self._open(f"drawdown {dd:.2%} from high-water mark {self.hwm:,.0f}", dd)
        elif self.is_open and not self.cfg.latching:
            self._close(f"drawdown back to {dd:.2%}", dd)
        self.risk = 100.0 if self.is_open else min(90.0, 90.0 * dd / self.cfg.max_drawdown)

    def reset(self, now_ns: int, reason: str) -> None:
        self._close(reason or "manual reset")


class ExposureBreaker(Breaker):
    __slots__ = ("cfg",)

    def __init__(self, name: str, cfg: ExposureConfig) -> None:
        super().__init__(name, BreakerType.EXPOSURE, cfg.effect)
        self.cfg = cfg

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        if snap is None or snap.gross_exposure is None:
            return
        g = snap.gross_exposure
        if g >= self.cfg.limit:
            self._open(f"gross exposure {g:,.0f} >= {self.cfg.limit:,.0f}", g)
        elif g < self.cfg.limit * self.cfg.clear_ratio:
            self._close(f"gross exposure {g:,.0f}", g)
        self.risk = 60.0 if self.is_open else min(50.0, 50.0 * g / self.cfg.limit)


class StalenessBreaker(Breaker):
    __slots__ = ("cfg", "last_ns")

    def __init__(self, name: str, cfg: StalenessConfig) -> None:
        super().__init__(name, BreakerType.MARKET_DATA_STALENESS, cfg.effect)
        self.cfg = cfg
        self.last_ns: int | None = None

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        if snap is not None and snap.last_market_data is not None:
            self.last_ns = max(self.last_ns or 0, to_ns(snap.last_market_data))
        if self.last_ns is None:
            return
        age = (now_ns - self.last_ns) / NS
        if age > self.cfg.max_age:
            self._open(f"market data {age:.1f} s old (max {self.cfg.max_age:g} s)", age)
        else:
            self._close("market data fresh", age)
        self.risk = 100.0 if self.is_open else 0.0


class VenueHaltBreaker(Breaker):
    """Mirrors external halts per venue or instrument; a symbol clears only on its resume."""

    __slots__ = ("symbols",)

    def __init__(self, name: str, cfg: VenueHaltConfig) -> None:
        super().__init__(name, BreakerType.VENUE_HALT, cfg.effect)
        self.symbols: frozenset[str] = frozenset()

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        if snap is None or snap.halted is None:
            return  # no report: nothing resumed
        for s in sorted(snap.halted - self.symbols):
            self._pending.append((EventKind.TRIP, f"{s} halted", None))
        for s in sorted(self.symbols - snap.halted):
            self._pending.append((EventKind.RESET, f"{s} resumed", None))
        self.symbols = snap.halted
        self.is_open = bool(self.symbols)
        self.risk = 60.0 if self.is_open else 0.0

    def trip(self, now_ns: int, reason: str) -> None:
        raise ValueError(f"{self.name}: a venue halt mirrors the feed and cannot be tripped by hand")

    def reset(self, now_ns: int, reason: str) -> None:
        raise ValueError(f"{self.name}: a venue halt clears only when the symbol resumes")


class KillSwitch(Breaker):
    """Latching; reset by hand only. Optionally trips when heartbeats stop."""

    __slots__ = ("cfg", "last_heartbeat_ns")

    def __init__(self, name: str, cfg: KillSwitchConfig) -> None:
        super().__init__(name, BreakerType.KILL_SWITCH, cfg.effect)
        self.cfg = cfg
        self.last_heartbeat_ns: int | None = None

    def heartbeat(self, now_ns: int) -> None:
        self.last_heartbeat_ns = now_ns

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        t = self.cfg.heartbeat_timeout
        if t is not None and self.last_heartbeat_ns is not None and now_ns - self.last_heartbeat_ns > t * NS:
            self._open(f"no heartbeat for {(now_ns - self.last_heartbeat_ns) / NS:.1f} s")
        self.risk = 100.0 if self.is_open else 0.0

    def reset(self, now_ns: int, reason: str) -> None:
        self.last_heartbeat_ns = now_ns
        self._close(reason or "manual reset")


def build(name: str, btype: BreakerType, cfg: object, clock: ManualClock) -> Breaker:
    """A breaker for a validated spec."""
    if isinstance(cfg, RateConfig):
        return RateBreaker(name, btype, cfg, clock)
    if isinstance(cfg, CountConfig):
        return CountBreaker(name, btype, cfg, clock)
    if isinstance(cfg, MarketWideConfig):
        return MarketWideBreaker(name, cfg)
    if isinstance(cfg, VixConfig):
        return VixBreaker(name, cfg)
    if isinstance(cfg, DailyLossConfig):
        return DailyLossBreaker(name, cfg)
    if isinstance(cfg, DrawdownConfig):
        return DrawdownBreaker(name, cfg)
    if isinstance(cfg, ExposureConfig):
        return ExposureBreaker(name, cfg)
    if isinstance(cfg, StalenessConfig):
        return StalenessBreaker(name, cfg)
    if isinstance(cfg, VenueHaltConfig):
        return VenueHaltBreaker(name, cfg)
    if isinstance(cfg, KillSwitchConfig):
        return KillSwitch(name, cfg)
    raise TypeError(f"no breaker for a {type(cfg).__name__}")


