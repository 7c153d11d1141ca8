"""ringbreaker.trading: the trading desk's circuit breakers behind one async facade.

See ``README.md`` in this package for how each problem of the facade it replaces is made
impossible."""

from ._breakers import Breaker
from ._config import (
    BreakerSpec,
    ConfigError,
    CountConfig,
    DailyLossConfig,
    DrawdownConfig,
    ExposureConfig,
    FacadeConfig,
    KillSwitchConfig,
    MarketWideConfig,
    RateConfig,
    StalenessConfig,
    VenueHaltConfig,
    VixConfig,
)
from ._events import Subscription
from ._facade import TradingBreakers
from ._model import (
    BreakerEvent,
    BreakerType,
    Effect,
    EventKind,
    MarketSnapshot,
    TradingState,
    TradingStatus,
)
from ._source import HttpMarketDataSource, MarketDataSource

__all__ = [
    "Breaker",
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
    "TradingState",
    "TradingStatus",
    "VenueHaltConfig",
    "VixConfig",
]
