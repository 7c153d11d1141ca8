"""Values of the trading facade: breaker types, effects, snapshots, status, events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Sampled market and book values at ``timestamp`` (timezone-aware), the facade's "now"
    during :meth:`TradingBreakers.check`. A field left ``None`` was not sampled: breakers that
    need it keep their state.

    ``halted`` lists venues or instruments an external feed reports halted (mirrored until they
    resume); ``last_market_data`` is when the market data was last fresh.
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

    def __post_init__(self) -> None:
        if not isinstance(self.timestamp, datetime):
            raise TypeError("timestamp must be a datetime")
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


@dataclass(frozen=True, slots=True)
class TradingStatus:
    """The desk's status after a check. Built once per change and shared until the next."""

    state: TradingState
    tripped: tuple[str, ...]
    risk_score: float
    message: str
    at_ns: int
    halted_symbols: frozenset[str] = field(default_factory=frozenset)
