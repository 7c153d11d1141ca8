"""The facade's breakers. Each keeps its own state, evaluated lazily from the time it is
given: no breaker owns a task, a timer or a thread.

Every breaker exposes ``is_open``, ``effect`` (what it does while open), ``risk`` (0..100) and
``drain()``, the events it produced since the last drain, as ``(kind, reason, value)``."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .. import CircuitBreaker, CircuitOpenError, ManualClock, State, Transition
from ._config import (
    CalendarConfig,
    CountConfig,
    DailyLossConfig,
    DrawdownConfig,
    ExposureConfig,
    KillSwitchConfig,
    LuldConfig,
    MarketWideConfig,
    RateConfig,
    StalenessConfig,
    ThrottleConfig,
    VenueHaltConfig,
    VixConfig,
)
from ._model import BreakerType, Effect, EventKind, MarketSnapshot, to_ns

Signal = tuple[EventKind, str, float | None]
NS = 1_000_000_000


class ManualTrip(NamedTuple):
    """Who opened a breaker by hand, why, and when (UNIX-epoch ns)."""

    by: str
    reason: str
    at_ns: int


class Breaker:
    """Common state: name, type, and the events not yet published. A manual trip latches: the
    breaker stays open, whatever its rule says, until a manual reset."""

    __slots__ = ("name", "type", "is_open", "effect", "risk", "manual", "_pending", "_warned")

    def __init__(self, name: str, btype: BreakerType, effect: Effect) -> None:
        self.name = name
        self.type = btype
        self.is_open = False
        self.effect = effect
        self.risk = 0.0
        self.manual: ManualTrip | None = None
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
        if self.manual is not None:
            return  # latched by hand
        if self.is_open:
            self._pending.append((EventKind.RESET, reason, value))
        self.is_open = False

    def _warn(self, hot: bool, reason: str, value: float | None) -> None:
        if hot and not self._warned and not self.is_open:
            self._pending.append((EventKind.WARNING, reason, value))
        self._warned = hot

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        """Re-evaluate at `now_ns` (with a snapshot during `check`)."""

    def trip(self, now_ns: int, reason: str, by: str = "operator") -> None:
        """Open by hand; latches until :meth:`reset`."""
        if self.manual is None:
            self.manual = ManualTrip(by, reason, now_ns)
        was_open = self.is_open
        self._manual_open(now_ns, reason)
        if not was_open:
            self._pending.append((EventKind.TRIP, f"manual trip by {by}: {reason or 'no reason given'}", None))
        self.is_open = True

    def reset(self, now_ns: int, reason: str, by: str = "operator") -> None:
        """Close by hand (ends a manual latch, and the rule's own open state)."""
        self.manual = None
        self._manual_reset(now_ns)
        self._close(f"manual reset by {by}: {reason or 'no reason given'}")

    def _manual_open(self, now_ns: int, reason: str) -> None:
        """Type-specific part of a manual trip."""

    def _manual_reset(self, now_ns: int) -> None:
        """Type-specific part of a manual reset."""


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

    def trip(self, now_ns: int, reason: str, by: str = "operator") -> None:
        self.manual = ManualTrip(by, reason, now_ns)
        self.seen = State.FORCED_OPEN  # the manual trip's own event below reports it
        self.cb.force_open(f"manual trip by {by}: {reason or 'no reason given'}")
        self._refresh()
        self._pending.append((EventKind.TRIP, f"manual trip by {by}: {reason or 'no reason given'}", None))

    def reset(self, now_ns: int, reason: str, by: str = "operator") -> None:
        self.manual = None
        self.seen = State.CLOSED
        was_open = self.is_open
        self.cb.reset(f"manual reset by {by}")
        self._refresh()
        if was_open:
            self._pending.append((EventKind.RESET, f"manual reset by {by}: {reason or 'no reason given'}", None))


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

    def _manual_open(self, now_ns: int, reason: str) -> None:
        self.cb.force_open(reason or "manual trip")

    def _manual_reset(self, now_ns: int) -> None:
        self.cb.reset("manual reset")
        self.risk = 0.0

    def bad(self, reason: str) -> None:
        """Count one bad reading (the data-quality breaker)."""
        self._pending.append((EventKind.WARNING, f"bad data: {reason}", None))
        self.count()


def _et_parts(now_ns: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(now_ns // NS, tz)


class Session(NamedTuple):
    """A trading day's regular hours as ns since local midnight, and the time of day `now` is."""

    day: date
    now: int
    open: int
    close: int


MIN_NS = 60 * NS


def session(now_ns: int, cal: CalendarConfig, tz: ZoneInfo) -> Session:
    """`now_ns` in the calendar's time zone: its day, its time of day (ns, exact) and the day's
    regular hours (the early close on an early-close day)."""
    local = datetime.fromtimestamp(now_ns // NS, tz)
    tod = (local.hour * 3600 + local.minute * 60 + local.second) * NS + now_ns % NS
    o = _minutes(cal.open)
    c = _minutes(cal.early_close if local.date() in cal.early_closes else cal.close)
    return Session(local.date(), tod, o * MIN_NS, c * MIN_NS)


def _minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


class MarketWideBreaker(Breaker):
    """The US market-wide circuit breaker rule (NYSE Rule 7.12), evaluated at each check's time.

    A decline counts only during regular trading hours: after the open and up to and including
    the close. Level 1 and 2 halt for ``halt_minutes`` if they occur after the open and up to and
    including the cutoff (15:25, i.e. 35 minutes before the close: 12:25 on an early close),
    each at most once a day; later they only warn. Level 3 halts for the rest of the day."""

    __slots__ = ("cfg", "cal", "tz", "cutoff_before_close", "day", "fired", "halt_until_ns", "for_day", "drop")

    def __init__(self, name: str, cfg: MarketWideConfig, cal: CalendarConfig) -> None:
        super().__init__(name, BreakerType.MARKET_WIDE, Effect.HALT)
        self.cfg = cfg
        self.cal = cal
        self.tz = ZoneInfo(cfg.timezone)
        self.cutoff_before_close = (_minutes(cal.close) - _minutes(cfg.cutoff)) * MIN_NS
        self.day: date | None = None
        self.fired: set[int] = set()
        self.halt_until_ns = 0
        self.for_day = False
        self.drop = 0.0

    def _proximity(self) -> float:
        """How near the next level that can still halt (0..90)."""
        levels = (self.cfg.level1, self.cfg.level2, self.cfg.level3)
        nxt = next((pct for i, pct in enumerate(levels) if i + 1 not in self.fired), None)
        return 0.0 if nxt is None else min(90.0, 90.0 * max(self.drop, 0.0) / nxt)

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        ses = session(now_ns, self.cal, self.tz)
        if ses.day != self.day:  # a new day re-arms every level
            self.day, self.fired, self.for_day, self.halt_until_ns, self.drop = ses.day, set(), False, 0, 0.0
            if self.is_open:
                self._close("new trading day")
        regular = ses.open < ses.now <= ses.close
        if snap is not None and snap.index_level is not None and snap.index_prior_close is not None:
            drop = 1.0 - snap.index_level / snap.index_prior_close
            self.drop = drop
            # tolerance: a level exactly at -7.00 % is a -7 % decline despite float rounding
            eps = 1e-12
            levels = (self.cfg.level1, self.cfg.level2, self.cfg.level3)
            reached = max((i + 1 for i, pct in enumerate(levels) if drop >= pct - eps), default=0)
            if regular and reached == 3 and 3 not in self.fired:
                self.fired.update((1, 2, 3))
                self.for_day = True
                self._open(f"level 3: index down {drop:.2%}, halted for the rest of the day", drop,
                           escalate=True)
            elif regular and reached in (1, 2) and reached not in self.fired:
                self.fired.update(range(1, reached + 1))
                if ses.now <= ses.close - self.cutoff_before_close:
                    self.halt_until_ns = now_ns + int(self.cfg.halt_minutes * 60 * NS)
                    self._open(f"level {reached}: index down {drop:.2%}, halted {self.cfg.halt_minutes:g} min",
                               drop, escalate=True)
                else:
                    self._pending.append((EventKind.WARNING,
                                          f"level {reached} decline after the cutoff: no halt", drop))
            self._warn(drop >= self.cfg.level1 * self.cfg.warn_fraction, f"index down {drop:.2%}", drop)
        if self.is_open and not self.for_day and now_ns >= self.halt_until_ns:
            self._close("halt period over")
        self.risk = 100.0 if self.is_open else self._proximity()

    def _manual_reset(self, now_ns: int) -> None:
        self.for_day, self.halt_until_ns = False, 0


class VixBreaker(Breaker):
    """VIX with hysteresis: escalates at once, clears only after a quiet period."""

    __slots__ = ("cfg", "level", "below_since", "last")

    def __init__(self, name: str, cfg: VixConfig) -> None:
        super().__init__(name, BreakerType.VIX, Effect.REDUCE)
        self.cfg = cfg
        self.level = 0
        self.below_since: int | None = None
        self.last = 0.0

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
            self.last = vix
            self._warn(vix >= 0.8 * c.reduce_at, f"VIX {vix:.2f}", vix)
        if self.level > 0 and self.below_since is not None and now_ns - self.below_since >= self.cfg.clear_after * NS:
            self.level, self.below_since, self.effect = 0, None, Effect.REDUCE
            self.risk = min(50.0, 50.0 * self.last / self.cfg.reduce_at)
            self._close(f"VIX below {self.cfg.clear_below:g} for {self.cfg.clear_after:g} s", vix)

    def _manual_open(self, now_ns: int, reason: str) -> None:
        self.level, self.effect = 2, Effect.HALT

    def _manual_reset(self, now_ns: int) -> None:
        self.level, self.below_since, self.effect = 0, None, Effect.REDUCE
        self.risk = 0.0


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
            if not self.is_open:
                self.risk = 0.0
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

    def _manual_reset(self, now_ns: int) -> None:
        self.risk = 0.0


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
        self.is_open = bool(self.symbols) or self.manual is not None
        self.risk = 60.0 if self.is_open else 0.0

    def reset(self, now_ns: int, reason: str, by: str = "operator") -> None:
        if self.manual is None:
            raise ValueError(f"{self.name}: a venue halt clears only when the symbol resumes")
        self.manual = None
        if self.symbols:
            self._pending.append((EventKind.WARNING, f"manual trip reset by {by}; still halted by the feed", None))
        else:
            self._close(f"manual reset by {by}: {reason or 'no reason given'}")


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

    def _open(self, reason: str, value: float | None = None, *, escalate: bool = False) -> None:
        if self.manual is None:  # a heartbeat loss latches like a manual kill
            self.manual = ManualTrip("heartbeat monitor", reason, self.last_heartbeat_ns or 0)
        super()._open(reason, value, escalate=escalate)

    def _manual_reset(self, now_ns: int) -> None:
        self.last_heartbeat_ns = now_ns


def build(name: str, btype: BreakerType, cfg: object, clock: ManualClock, cal: CalendarConfig) -> Breaker:
    """A breaker for a validated spec."""
    if isinstance(cfg, RateConfig):
        return RateBreaker(name, btype, cfg, clock)
    if isinstance(cfg, CountConfig):
        return CountBreaker(name, btype, cfg, clock)
    if isinstance(cfg, MarketWideConfig):
        return MarketWideBreaker(name, cfg, cal)
    if isinstance(cfg, LuldConfig):
        from ._rules import LuldBreaker

        return LuldBreaker(name, cfg, cal)
    if isinstance(cfg, ThrottleConfig):
        from ._rules import ThrottleBreaker

        return ThrottleBreaker(name, cfg, clock)
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


