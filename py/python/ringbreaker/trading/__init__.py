"""ringbreaker.trading: the trading desk's circuit breakers behind one async facade.

See ``README.md`` in this package for how each problem of the facade it replaces is made
impossible."""

from ._breakers import Breaker, ManualTrip
from ._config import (
    BreakerSpec,
    CalendarConfig,
    ClusterConfig,
    ConfigError,
    CountConfig,
    DailyLossConfig,
    DrawdownConfig,
    ExposureConfig,
    FacadeConfig,
    KillSwitchConfig,
    LuldConfig,
    MarketWideConfig,
    RateConfig,
    StalenessConfig,
    ThrottleConfig,
    VenueHaltConfig,
    VixConfig,
)
from ._events import Subscription
from ._facade import TimelinePoint, TradingBreakers, TradingGauges
from ._model import (
    INDEX_PLAUSIBLE_MOVE,
    VIX_PLAUSIBLE,
    BreakerEvent,
    BreakerType,
    Effect,
    EventKind,
    KillRecord,
    MarketSnapshot,
    Quote,
    Side,
    SnapshotError,
    SymbolState,
    SymbolStatus,
    TradingState,
    TradingStatus,
    manual_clock_at,
)
from ._plot import plot_timeline
from ._rules import bands
from ._source import HttpMarketDataSource, MarketDataSource

__all__ = [
    "INDEX_PLAUSIBLE_MOVE",
    "VIX_PLAUSIBLE",
    "Breaker",
    "CalendarConfig",
    "ClusterConfig",
    "KillRecord",
    "LuldConfig",
    "ManualTrip",
    "Quote",
    "Side",
    "SnapshotError",
    "SymbolState",
    "SymbolStatus",
    "ThrottleConfig",
    "TimelinePoint",
    "bands",
    "manual_clock_at",
    "plot_timeline",
    "BreakerEvent",
    "BreakerSpec",
    "BreakerType",
    "ConfigError",
    "CountConfig",
    "DailyLossConfig",
    "DrawdownConfig",
    "Effect",
    "EventKind",
    "ExposureConfig",
    "FacadeConfig",
    "HttpMarketDataSource",
    "KillSwitchConfig",
    "MarketDataSource",
    "MarketSnapshot",
    "MarketWideConfig",
    "RateConfig",
    "StalenessConfig",
    "Subscription",
    "TradingBreakers",
    "TradingGauges",
    "TradingState",
    "TradingStatus",
    "VenueHaltConfig",
    "VixConfig",
]
