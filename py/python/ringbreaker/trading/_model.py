"""Values of the trading facade: breaker types, effects, snapshots, status, events."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .. import ManualClock


class BreakerType(enum.Enum):
    """The kinds of breaker the facade runs."""

    ORDER_REJECT_RATE = "order_reject_rate"
    API_ERROR_RATE = "api_error_rate"
    LATENCY = "latency"
    STOP_LOSS_STREAK = "stop_loss_streak"
    MESSAGE_RATE = "message_rate"
    EXECUTION_THROTTLE = "execution_throttle"
    MARKET_WIDE = "market_wide"
    VIX = "vix"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    EXPOSURE = "exposure"
    MARKET_DATA_STALENESS = "market_data_staleness"
    VENUE_HALT = "venue_halt"
    KILL_SWITCH = "kill_switch"
    DATA_QUALITY = "data_quality"
    LULD = "luld"
    ORDER_THROTTLE = "order_throttle"


class Effect(enum.Enum):
    """What an open breaker does to trading. Cancels are never blocked by either."""

    REDUCE = "reduce"
    HALT = "halt"


class TradingState(enum.Enum):
    """HALTED if any HALT breaker is open, else REDUCING if any REDUCE breaker is, else ACTIVE."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class EventKind(enum.Enum):
    """What happened to a breaker."""

    TRIP = "trip"
    RESET = "reset"
    HALF_OPEN = "half_open"
    WARNING = "warning"


class Side(enum.Enum):
    """The side of an order, for :meth:`TradingStatus.allows`."""

    BUY = "buy"
    SELL = "sell"


class SnapshotError(ValueError):
    """A snapshot field is invalid (NaN, infinite, or out of its domain). ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def _finite(name: str, v: object, *, positive: bool = False, nonneg: bool = False) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SnapshotError(name, f"expected a number, got {type(v).__name__}")
    try:
        f = float(v)
    except OverflowError:
        raise SnapshotError(name, "number too large") from None
    if not math.isfinite(f):
        raise SnapshotError(name, f"must be finite, got {f!r}")
    if positive and f <= 0:
        raise SnapshotError(name, f"must be > 0, got {f!r}")
    if nonneg and f < 0:
        raise SnapshotError(name, f"must be >= 0, got {f!r}")
    return f


@dataclass(frozen=True, slots=True)
class Quote:
    """One symbol's market at the snapshot's time, for the LULD rule: the national best bid and
    offer, and the prices of the eligible trades reported since the previous snapshot."""

    bid: float | None = None
    ask: float | None = None
    trades: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        _finite("bid", self.bid, positive=True)
        _finite("ask", self.ask, positive=True)
        if not isinstance(self.trades, tuple):
            object.__setattr__(self, "trades", tuple(self.trades))
        for i, p in enumerate(self.trades):
            _finite(f"trades[{i}]", p, positive=True)


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Sampled market and book values at ``timestamp`` (timezone-aware), the facade's "now"
    during :meth:`TradingBreakers.check`. A field left ``None`` was not sampled: breakers that
    need it keep their state.

    ``halted`` lists venues or instruments an external feed reports halted (mirrored until they
    resume); ``last_market_data`` is when the market data was last fresh; ``quotes`` maps a
    symbol to its :class:`Quote` (for the LULD rule); ``rejected`` names readings a source
    rejected as bad data (each counted by the data-quality breaker, none fed to the rules).

    Invalid values raise :class:`SnapshotError` naming the field: any NaN or infinity, an index
    level or prior close <= 0, a negative VIX or gross exposure.
    """

    timestamp: datetime
    index_level: float | None = None
    index_prior_close: float | None = None
    vix: float | None = None
    daily_pnl: float | None = None
    equity: float | None = None
    gross_exposure: float | None = None
    last_market_data: datetime | None = None
    halted: frozenset[str] | None = None
    quotes: Mapping[str, Quote] | None = None
    rejected: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.timestamp, datetime):
            raise TypeError("timestamp must be a datetime")
        for name, kw in (("index_level", {"positive": True}), ("index_prior_close", {"positive": True}),
                         ("vix", {"nonneg": True}), ("daily_pnl", {}), ("equity", {}),
                         ("gross_exposure", {"nonneg": True})):
            v = _finite(name, getattr(self, name), **kw)
            if v is not None:
                object.__setattr__(self, name, v)
        if self.quotes is not None:
            q = dict(self.quotes)
            for sym, quote in q.items():
                if not isinstance(quote, Quote):
                    raise SnapshotError(f"quotes[{sym!r}]", "expected a Quote")
            object.__setattr__(self, "quotes", MappingProxyType(q))
        if not isinstance(self.rejected, tuple):
            object.__setattr__(self, "rejected", tuple(self.rejected))
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("timestamp must be timezone-aware")
        if self.last_market_data is not None and self.last_market_data.tzinfo is None:
            raise ValueError("last_market_data must be timezone-aware")
        if self.halted is not None and not isinstance(self.halted, frozenset):
            object.__setattr__(self, "halted", frozenset(self.halted))

    @property
    def now_ns(self) -> int:
        """``timestamp`` as UNIX-epoch nanoseconds."""
        return to_ns(self.timestamp)


def to_ns(dt: datetime) -> int:
    """A timezone-aware datetime as UNIX-epoch nanoseconds, exactly."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def manual_clock_at(dt: datetime) -> ManualClock:
    """A :class:`ringbreaker.ManualClock` reading ``dt`` (timezone-aware) as UNIX-epoch
    nanoseconds: the facade's clock convention. ``ManualClock()`` alone starts at the epoch."""
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("manual_clock_at() needs a timezone-aware datetime")
    return ManualClock(to_ns(dt))


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """Something that happened to a breaker. Immutable and fixed-size: no metadata dict."""

    seq: int
    kind: EventKind
    breaker: str
    breaker_type: BreakerType
    effect: Effect
    at_ns: int
    reason: str
    value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (fresh each call; fields are immutable, so nothing is deep-copied)."""
        return {
            "seq": self.seq,
            "kind": self.kind.value,
            "breaker": self.breaker,
            "breaker_type": self.breaker_type.value,
            "effect": self.effect.value,
            "at_ns": self.at_ns,
            "reason": self.reason,
            "value": self.value,
        }


class SymbolState(enum.Enum):
    """A symbol's LULD state."""

    NORMAL = "normal"
    LIMIT_UP = "limit_up"
    LIMIT_DOWN = "limit_down"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """One symbol's LULD state: its reference price, bands (rounded to the penny), and, while
    paused, when trading may resume (``None``: not before the close)."""

    state: SymbolState
    reference: float | None
    lower: float | None
    upper: float | None
    limit_since_ns: int | None = None
    paused_until_ns: int | None = None


_NO_SYMBOLS: Mapping[str, SymbolStatus] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TradingStatus:
    """The desk's status after a check. Built once per change and shared until the next.

    ``halted_symbols``: symbols halted by a venue or paused by LULD; ``symbols``: each LULD
    symbol's :class:`SymbolStatus`."""

    state: TradingState
    tripped: tuple[str, ...]
    risk_score: float
    message: str
    at_ns: int
    halted_symbols: frozenset[str] = field(default_factory=frozenset)
    symbols: Mapping[str, SymbolStatus] = field(default_factory=lambda: _NO_SYMBOLS)

    def allows(self, side: Side | str, position: float, quantity: float = 1.0, symbol: str | None = None) -> bool:
        """Whether a new order of ``quantity`` (> 0) on ``side``, given the current signed
        ``position`` in its instrument, may go out. ACTIVE: yes. REDUCING (reduce-only): only if
        the order shrinks the position without flipping it. HALTED: no. A symbol halted or
        LULD-paused: no. Cancels are not orders here and are always allowed."""
        side = Side(side) if not isinstance(side, Side) else side
        if not (isinstance(quantity, int | float) and math.isfinite(quantity) and quantity > 0):
            raise ValueError(f"quantity must be a finite number > 0, got {quantity!r}")
        if not (isinstance(position, int | float) and math.isfinite(position)):
            raise ValueError(f"position must be a finite number, got {position!r}")
        if symbol is not None and symbol in self.halted_symbols:
            return False
        if self.state is TradingState.HALTED:
            return False
        if self.state is TradingState.ACTIVE:
            return True
        if side is Side.SELL:
            return position > 0 and quantity <= position
        return position < 0 and quantity <= -position


#: An index level is plausible within this fraction of its prior close (a -20 % decline halts
#: the market for the day, so a reading beyond +-50 % is a bad print, not a market).
INDEX_PLAUSIBLE_MOVE = 0.5
#: VIX readings are plausible in this range (its record close is below 90).
VIX_PLAUSIBLE = (1.0, 200.0)


def screen(snapshot: MarketSnapshot) -> tuple[MarketSnapshot, tuple[str, ...]]:
    """Split a valid snapshot's implausible readings off: the snapshot without them, and why
    each was rejected (with the snapshot's own ``rejected``)."""
    import dataclasses

    bad = list(snapshot.rejected)
    changes: dict[str, Any] = {}
    level, prior = snapshot.index_level, snapshot.index_prior_close
    if level is not None and prior is not None and abs(level / prior - 1.0) > INDEX_PLAUSIBLE_MOVE:
        bad.append(f"index_level {level:g} is {level / prior - 1.0:+.0%} from the prior close {prior:g} "
                   f"(plausible: within +-{INDEX_PLAUSIBLE_MOVE:.0%})")
        changes["index_level"] = None
    vix = snapshot.vix
    if vix is not None and not VIX_PLAUSIBLE[0] <= vix <= VIX_PLAUSIBLE[1]:
        bad.append(f"vix {vix:g} is implausible (plausible: {VIX_PLAUSIBLE[0]:g}..{VIX_PLAUSIBLE[1]:g})")
        changes["vix"] = None
    if changes:
        snapshot = dataclasses.replace(snapshot, **changes)
    return snapshot, tuple(bad)


@dataclass(frozen=True, slots=True)
class KillRecord:
    """A kill: who, why, when (UNIX-epoch ns), and the cancel-all callback's outcome:
    ``cancel_all`` is ``"ok"``, ``"failed"``, ``"timeout"`` or ``"not configured"``, and
    ``result`` the callback's return value (or the error) as text."""

    by: str
    reason: str
    at_ns: int
    cancel_all: str
    result: str | None = None
