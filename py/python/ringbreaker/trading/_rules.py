"""Per-symbol rules: Limit Up-Limit Down (LULD) and order throttles.

LULD follows the LULD Plan as it stands since Amendment 18 (February 2020), Appendix A:

* Percentage parameters by tier and reference price: above $3.00, 5 % (Tier 1) or 10 %
  (Tier 2); from $0.75 up to and including $3.00, 20 %; below $0.75, the lesser of $0.15 or 75 %.
* No doubling at the open. From 25 minutes before the close (15:35, or 12:35 on a 13:00 early
  close) to the close, the parameters double for Tier 1 and for Tier 2 at or below $3.00.
* Bands are the reference price minus / plus the parameter, rounded to the penny. Choices where
  the Plan's text is silent: a tie rounds half away from zero (10.605 -> 10.61, 9.595 -> 9.60),
  computed in decimal from the float's shortest repr; sub-dollar bands are rounded to the penny
  too; a lower band that would be below zero is $0.00.
* The reference price is the arithmetic mean of the eligible trades of the preceding
  ``reference_window`` (5 minutes; trades strictly after now - 5 min), and moves only when that
  mean differs from it by ``reference_move`` (1 %) or more. The first trade of the day (or after
  a pause, the first trade after it) sets it.
* Limit state: the national best offer at or below the lower band (limit down), or the best bid
  at or above the upper band (limit up), the quote not crossed (bid < offer). A limit state still
  present ``limit_state_seconds`` (15 s) after it began (at or after entry + 15 s exactly)
  becomes a trading pause of ``pause_minutes`` (5 min); a pause beginning in the last 10 minutes
  of the session is not reopened before the close.
* The rule runs during regular hours only (after the open, up to and including the close).

Order throttles count submit/modify/cancel messages per symbol and in total on core breakers'
rolling windows (bucketed: ``window / buckets`` granularity)."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from .. import CircuitBreaker, CircuitOpenError, ManualClock
from ._breakers import NS, Breaker, session
from ._config import CalendarConfig, LuldConfig, ThrottleConfig, parse_rate
from ._model import BreakerType, EventKind, MarketSnapshot, Quote, SymbolState, SymbolStatus

PENNY = Decimal("0.01")
THREE = Decimal("3.00")
SEVENTY_FIVE_CENTS = Decimal("0.75")
DOUBLING_BEFORE_CLOSE_NS = 25 * 60 * NS
NO_REOPEN_BEFORE_CLOSE_NS = 10 * 60 * NS
#: Trades kept per symbol for the reference price (the newest, if more arrive within 5 minutes).
MAX_TRADES = 100_000


def band_parameter(reference: Decimal, tier: int, doubled: bool) -> Decimal:
    """The price distance of the bands from ``reference`` (Appendix A, Amendment 18)."""
    if reference > THREE:
        pct = Decimal("0.05") if tier == 1 else Decimal("0.10")
        factor = 2 if doubled and tier == 1 else 1
        return reference * pct * factor
    factor = 2 if doubled else 1  # Tier 1, and Tier 2 at or below $3.00
    if reference >= SEVENTY_FIVE_CENTS:
        return reference * Decimal("0.20") * factor
    return min(Decimal("0.15") * factor, reference * Decimal("0.75") * factor)


def bands(reference: float, tier: int, doubled: bool) -> tuple[float, float]:
    """(lower, upper), rounded to the penny, half away from zero; the lower band is >= 0."""
    ref = Decimal(repr(reference))
    p = band_parameter(ref, tier, doubled)
    lower = max(Decimal(0), (ref - p).quantize(PENNY, rounding=ROUND_HALF_UP))
    upper = (ref + p).quantize(PENNY, rounding=ROUND_HALF_UP)
    return float(lower), float(upper)


@dataclass
class _Symbol:
    day: date
    trades: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=MAX_TRADES))
    reference: float | None = None
    lower: float | None = None
    upper: float | None = None
    bid: float | None = None
    ask: float | None = None
    state: SymbolState = SymbolState.NORMAL
    limit_since: int | None = None
    paused_until: int | None = None

    def status(self) -> SymbolStatus:
        return SymbolStatus(self.state, self.reference, self.lower, self.upper, self.limit_since,
                            self.paused_until)


class LuldBreaker(Breaker):
    """Limit Up-Limit Down for every symbol seen in ``snapshot.quotes``; open (with its effect)
    while any symbol is paused. Paused symbols are in ``TradingStatus.halted_symbols``."""

    __slots__ = ("cfg", "cal", "tz", "tier1", "syms", "paused", "statuses", "ignored")

    def __init__(self, name: str, cfg: LuldConfig, cal: CalendarConfig) -> None:
        super().__init__(name, BreakerType.LULD, cfg.effect)
        self.cfg = cfg
        self.cal = cal
        self.tz = ZoneInfo(cal.timezone)
        self.tier1 = frozenset(cfg.tier1)
        self.syms: dict[str, _Symbol] = {}
        self.paused: frozenset[str] = frozenset()
        self.statuses: dict[str, SymbolStatus] = {}
        self.ignored = 0  # quotes of symbols beyond max_symbols

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        ses = session(now_ns, self.cal, self.tz)
        quotes = {} if snap is None or snap.quotes is None else snap.quotes
        regular = ses.open < ses.now <= ses.close
        for sym, q in quotes.items():
            st = self.syms.get(sym)
            if st is None:
                if len(self.syms) >= self.cfg.max_symbols:
                    self.ignored += 1
                    continue
                st = self.syms[sym] = _Symbol(ses.day)
            self._quote(sym, st, q, now_ns, ses.day, regular)
        for sym, st in self.syms.items():
            if st.day != ses.day:
                self._new_day(sym, st, ses.day)
            self._evaluate(sym, st, now_ns, regular, ses.close - ses.now)
        paused = frozenset(s for s, st in self.syms.items() if st.state is SymbolState.PAUSED)
        self.paused = paused
        self.is_open = bool(paused) or self.manual is not None
        self.risk = 60.0 if self.is_open else (30.0 if any(st.limit_since is not None for st in self.syms.values())
                                               else 0.0)

    def _new_day(self, sym: str, st: _Symbol, day: date) -> None:
        if st.state is SymbolState.PAUSED:
            self._pending.append((EventKind.RESET, f"{sym}: new trading day", None))
        st.__init__(day)  # type: ignore[misc]
        self.statuses[sym] = st.status()

    def _quote(self, sym: str, st: _Symbol, q: Quote, now_ns: int, day: date, regular: bool) -> None:
        if st.day != day:
            self._new_day(sym, st, day)
        if q.bid is not None or q.ask is not None:
            st.bid, st.ask = q.bid, q.ask
        if st.state is SymbolState.PAUSED or not regular:
            return  # no eligible trades while paused or outside regular hours
        for price in q.trades:
            st.trades.append((now_ns, price))
            if st.reference is None:
                st.reference = price

    def _evaluate(self, sym: str, st: _Symbol, now_ns: int, regular: bool, to_close: int) -> None:
        cfg = self.cfg
        horizon = now_ns - int(cfg.reference_window * NS)
        while st.trades and st.trades[0][0] <= horizon:
            st.trades.popleft()
        if st.state is SymbolState.PAUSED:
            if st.paused_until is not None and now_ns >= st.paused_until:
                st.state, st.paused_until, st.limit_since = SymbolState.NORMAL, None, None
                st.reference = st.lower = st.upper = None  # the reopening trade sets it
                st.trades.clear()
                self._pending.append((EventKind.RESET, f"{sym}: LULD pause over, trading resumes", None))
            self.statuses[sym] = st.status()
            return
        if not regular or st.reference is None:
            self.statuses[sym] = st.status()
            return
        if st.trades:
            mean = math.fsum(p for _, p in st.trades) / len(st.trades)
            if abs(mean - st.reference) >= cfg.reference_move * st.reference * (1 - 1e-12):
                st.reference = mean
        tier = 1 if sym in self.tier1 else 2
        st.lower, st.upper = bands(st.reference, tier, doubled=0 <= to_close <= DOUBLING_BEFORE_CLOSE_NS)
        crossed = st.bid is not None and st.ask is not None and st.bid >= st.ask
        if not crossed and st.ask is not None and st.ask <= st.lower:
            limit = SymbolState.LIMIT_DOWN
        elif not crossed and st.bid is not None and st.bid >= st.upper:
            limit = SymbolState.LIMIT_UP
        else:
            limit = SymbolState.NORMAL
        if limit is SymbolState.NORMAL:
            if st.state is not SymbolState.NORMAL:
                self._pending.append((EventKind.WARNING, f"{sym}: limit state cleared", None))
            st.state, st.limit_since = SymbolState.NORMAL, None
        elif st.state is not limit:
            st.state, st.limit_since = limit, now_ns
            band = st.lower if limit is SymbolState.LIMIT_DOWN else st.upper
            self._pending.append((EventKind.WARNING, f"{sym}: {limit.value.replace('_', ' ')} at {band:.2f} "
                                                     f"(bands {st.lower:.2f}..{st.upper:.2f})", band))
        elif st.limit_since is not None and now_ns - st.limit_since >= int(cfg.limit_state_seconds * NS):
            last_ten = to_close <= NO_REOPEN_BEFORE_CLOSE_NS
            st.state = SymbolState.PAUSED
            st.paused_until = None if last_ten else now_ns + int(cfg.pause_minutes * 60 * NS)
            how = "until the close" if last_ten else f"{cfg.pause_minutes:g} min"
            self._pending.append((EventKind.TRIP, f"{sym}: LULD trading pause {how} ({limit.value.replace('_', ' ')} "
                                                  f"not cleared in {cfg.limit_state_seconds:g} s)", None))
        self.statuses[sym] = st.status()

    def reset(self, now_ns: int, reason: str, by: str = "operator") -> None:
        """End a manual trip; symbols paused by the rule stay paused until their pause ends."""
        self.manual = None
        if self.paused:
            self._pending.append((EventKind.WARNING, f"manual reset by {by}; still paused: "
                                                     f"{', '.join(sorted(self.paused))}", None))
        else:
            self._close(f"manual reset by {by}: {reason or 'no reason given'}")


class _Counter:
    """A count per rolling window on a core breaker."""

    __slots__ = ("cb", "limit", "per")

    def __init__(self, name: str, rate: tuple[int, float], buckets: int, clock: ManualClock) -> None:
        self.limit, self.per = rate
        self.cb = CircuitBreaker(name, window=self.per, buckets=buckets, failure_rate=1.0,
                                 minimum_calls=2**32 - 1, clock=clock)

    def count(self) -> int:
        return self.cb.metrics().calls

    def add(self) -> None:
        try:
            permit = self.cb.try_acquire()
        except CircuitOpenError:  # pragma: no cover - these breakers never open
            return
        self.cb.record(permit, success=True)


class ThrottleBreaker(Breaker):
    """Order message throttles per symbol and in total. ``check_order`` says whether a message may
    go out: a cancel always may (and is counted); a submit or modify over a limit is refused
    (``on_breach = "reject"``) or refused and latches the breaker open (``"latch"``)."""

    __slots__ = ("cfg", "clock", "per_symbol", "total", "symbols", "rejected", "by_symbol_rejected")

    def __init__(self, name: str, cfg: ThrottleConfig, clock: ManualClock) -> None:
        super().__init__(name, BreakerType.ORDER_THROTTLE, cfg.effect)
        self.cfg = cfg
        self.clock = clock
        self.per_symbol = None if cfg.per_symbol is None else parse_rate("per_symbol", cfg.per_symbol)
        self.total = None if cfg.total is None else _Counter(f"{name}:total", parse_rate("total", cfg.total),
                                                              cfg.buckets, clock)
        self.symbols: OrderedDict[str, _Counter] = OrderedDict()
        self.rejected = 0

    def _symbol(self, symbol: str) -> _Counter | None:
        if self.per_symbol is None:
            return None
        c = self.symbols.get(symbol)
        if c is None:
            if len(self.symbols) >= self.cfg.max_symbols:
                self.symbols.popitem(last=False)  # least recently used
            c = self.symbols[symbol] = _Counter(f"{self.name}:{symbol}", self.per_symbol, self.cfg.buckets,
                                                self.clock)
        else:
            self.symbols.move_to_end(symbol)
        return c

    def check_order(self, symbol: str, action: str) -> bool:
        counters = [c for c in (self._symbol(symbol), self.total) if c is not None]
        if action == "cancel":
            for c in counters:
                c.add()
            return True
        if self.is_open and self.cfg.on_breach == "latch":
            self.rejected += 1
            return False
        for c, what in zip(counters, ("per-symbol", "total") if self.per_symbol is not None else ("total",)):
            n = c.count()
            if n >= c.limit:
                self.rejected += 1
                reason = (f"{symbol}: {what} order rate {n}/{c.per:g}s reached (limit {c.limit}/{c.per:g}s), "
                          f"{action} rejected")
                if self.cfg.on_breach == "latch":
                    self._open(reason, float(n))  # stays open until reset(): nothing here closes it
                else:
                    self._pending.append((EventKind.WARNING, reason, float(n)))
                self.risk = 100.0 if self.is_open else 70.0
                return False
        for c in counters:
            c.add()
        return True

    def observe(self, snap: MarketSnapshot | None, now_ns: int) -> None:
        if not self.is_open:
            self.risk = 0.0

    def _manual_reset(self, now_ns: int) -> None:
        self.risk = 0.0
