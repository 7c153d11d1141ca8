"""Facade configuration: parsed once from a dict or a TOML file into frozen values.

Every error is a :class:`ConfigError` naming the key path (``breakers.vix.halt_at``)."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin, get_type_hints

from ._model import BreakerType, Effect


class ConfigError(ValueError):
    """An invalid facade configuration. ``path`` is the offending key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class RateConfig:
    """A breaker on the core's rolling window: a failure rate, a slow-call rate or a streak."""

    effect: Effect = Effect.HALT
    window: float = 60.0
    buckets: int = 12
    failure_rate: float = 0.5
    minimum_calls: int = 20
    consecutive_failures: int | None = None
    slow_call_duration: float | None = None
    slow_call_rate: float = 1.0
    open_duration: float = 30.0
    max_open_duration: float | None = None
    backoff_multiplier: float = 1.0
    half_open_permits: int = 1


@dataclass(frozen=True, slots=True)
class CountConfig:
    """A breaker on a count per window (messages, fills); ``latching`` needs a manual reset."""

    effect: Effect = Effect.REDUCE
    window: float = 1.0
    buckets: int = 10
    max_count: int = 50
    open_duration: float = 1.0
    latching: bool = False


@dataclass(frozen=True, slots=True)
class MarketWideConfig:
    """The US market-wide rule: declines from the prior close. Level 1 and 2 halt for
    ``halt_minutes`` if triggered before ``cutoff`` (exchange time), each at most once a day;
    level 3 halts for the rest of the day at any time."""

    level1: float = 0.07
    level2: float = 0.13
    level3: float = 0.20
    halt_minutes: float = 15.0
    cutoff: str = "15:25"
    timezone: str = "America/New_York"
    warn_fraction: float = 0.7


@dataclass(frozen=True, slots=True)
class VixConfig:
    """VIX level with hysteresis: REDUCE at ``reduce_at``, HALT at ``halt_at``; clears after
    staying below ``clear_below`` for ``clear_after`` seconds."""

    reduce_at: float = 30.0
    halt_at: float = 40.0
    clear_below: float = 25.0
    clear_after: float = 900.0


@dataclass(frozen=True, slots=True)
class DailyLossConfig:
    """Daily P&L at or below ``-limit`` halts until the next session or a manual reset."""

    limit: float = 100_000.0
    effect: Effect = Effect.HALT
    timezone: str = "America/New_York"
    warn_fraction: float = 0.8


@dataclass(frozen=True, slots=True)
class DrawdownConfig:
    """Equity ``max_drawdown`` (fraction) below its high-water mark."""

    max_drawdown: float = 0.10
    effect: Effect = Effect.HALT
    latching: bool = True


@dataclass(frozen=True, slots=True)
class ExposureConfig:
    """Gross exposure at or above ``limit`` reduces; clears below ``limit * clear_ratio``."""

    limit: float = 10_000_000.0
    clear_ratio: float = 0.9
    effect: Effect = Effect.REDUCE


@dataclass(frozen=True, slots=True)
class StalenessConfig:
    """Market data older than ``max_age`` seconds."""

    max_age: float = 5.0
    effect: Effect = Effect.HALT


@dataclass(frozen=True, slots=True)
class VenueHaltConfig:
    """Mirror of venue / instrument halts; a symbol clears only when it resumes."""

    effect: Effect = Effect.REDUCE


@dataclass(frozen=True, slots=True)
class KillSwitchConfig:
    """Latching manual switch; optionally tripped when heartbeats stop for ``heartbeat_timeout``."""

    heartbeat_timeout: float | None = None
    effect: Effect = Effect.HALT


AnyConfig = Union[
    RateConfig, CountConfig, MarketWideConfig, VixConfig, DailyLossConfig, DrawdownConfig,
    ExposureConfig, StalenessConfig, VenueHaltConfig, KillSwitchConfig,
]

#: Each type's config class and the defaults that differ from the class's own.
DEFAULTS: Mapping[BreakerType, tuple[type[Any], Mapping[str, Any]]] = types.MappingProxyType({
    BreakerType.ORDER_REJECT_RATE: (RateConfig, {}),
    BreakerType.API_ERROR_RATE: (RateConfig, {"minimum_calls": 10, "open_duration": 5.0,
                                              "backoff_multiplier": 2.0, "max_open_duration": 300.0}),
    BreakerType.LATENCY: (RateConfig, {"effect": Effect.REDUCE, "failure_rate": 1.0, "slow_call_duration": 0.5,
                                       "slow_call_rate": 0.5}),
    BreakerType.STOP_LOSS_STREAK: (RateConfig, {"failure_rate": 1.0, "minimum_calls": 2**32 - 1,
                                                "consecutive_failures": 5, "open_duration": 900.0,
                                                "window": 3600.0}),
    BreakerType.MESSAGE_RATE: (CountConfig, {}),
    BreakerType.EXECUTION_THROTTLE: (CountConfig, {"effect": Effect.HALT, "window": 60.0, "buckets": 12,
                                                   "max_count": 500, "latching": True}),
    BreakerType.MARKET_WIDE: (MarketWideConfig, {}),
    BreakerType.VIX: (VixConfig, {}),
    BreakerType.DAILY_LOSS: (DailyLossConfig, {}),
    BreakerType.DRAWDOWN: (DrawdownConfig, {}),
    BreakerType.EXPOSURE: (ExposureConfig, {}),
    BreakerType.MARKET_DATA_STALENESS: (StalenessConfig, {}),
    BreakerType.VENUE_HALT: (VenueHaltConfig, {}),
    BreakerType.KILL_SWITCH: (KillSwitchConfig, {}),
})

#: What `from_config({})` runs.
STANDARD_SET = ("market_wide", "vix", "venue_halt", "kill_switch")


@dataclass(frozen=True, slots=True)
class BreakerSpec:
    """One configured breaker."""

    name: str
    type: BreakerType
    config: AnyConfig


@dataclass(frozen=True, slots=True)
class FacadeConfig:
    """The whole facade configuration."""

    breakers: tuple[BreakerSpec, ...]
    history_size: int = 10_000
    max_subscribers: int = 64
    subscriber_queue_size: int = 1_000
    subscriber_timeout: float = 1.0


def _coerce(path: str, value: Any, hint: Any) -> Any:
    """Check `value` against a dataclass field's type hint, converting ints to floats and
    strings to Effects."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _coerce(path, value, inner[0])
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(path, f"expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}")
        return value
    if hint is Effect:
        try:
            return value if isinstance(value, Effect) else Effect(value)
        except ValueError:
            raise ConfigError(path, f"expected 'halt' or 'reduce', got {value!r}") from None
    raise ConfigError(path, f"unsupported type {hint!r}")  # pragma: no cover


def _validate(path: str, cfg: Any) -> None:
    """Range checks, each naming its key."""

    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise ConfigError(f"{path}.{key}", message)

    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, float) and f.name not in ("backoff_multiplier",):
            if f.name in ("failure_rate", "slow_call_rate", "max_drawdown", "clear_ratio", "warn_fraction",
                          "level1", "level2", "level3"):
                need(0.0 <= v <= 1.0, f.name, f"must be in 0..1, got {v}")
            else:
                need(v >= 0.0, f.name, f"must be >= 0, got {v}")
        if isinstance(v, int) and not isinstance(v, bool):
            need(v >= 0, f.name, f"must be >= 0, got {v}")
    if isinstance(cfg, MarketWideConfig):
        need(0 < cfg.level1 < cfg.level2 < cfg.level3, "level1", "levels must increase: level1 < level2 < level3")
        try:
            hh, mm = (int(x) for x in cfg.cutoff.split(":"))
            need(0 <= hh < 24 and 0 <= mm < 60, "cutoff", f"expected HH:MM, got {cfg.cutoff!r}")
        except ValueError:
            raise ConfigError(f"{path}.cutoff", f"expected HH:MM, got {cfg.cutoff!r}") from None
    if isinstance(cfg, MarketWideConfig | DailyLossConfig):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(cfg.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{path}.timezone", f"unknown time zone {cfg.timezone!r}") from None
    if isinstance(cfg, VixConfig):
        need(cfg.clear_below <= cfg.reduce_at <= cfg.halt_at, "reduce_at",
             "expected clear_below <= reduce_at <= halt_at")
    if isinstance(cfg, RateConfig):
        need(cfg.buckets >= 1, "buckets", "must be >= 1")
        need(cfg.window > 0, "window", "must be > 0")
        need(cfg.backoff_multiplier >= 1.0, "backoff_multiplier", "must be >= 1")
        need(cfg.half_open_permits >= 1, "half_open_permits", "must be >= 1")
    if isinstance(cfg, CountConfig):
        need(cfg.buckets >= 1, "buckets", "must be >= 1")
        need(cfg.window > 0, "window", "must be > 0")
        need(cfg.max_count >= 1, "max_count", "must be >= 1")
    if isinstance(cfg, DailyLossConfig | ExposureConfig):
        need(cfg.limit > 0, "limit", "must be > 0")


def _breaker(path: str, name: str, table: Any) -> BreakerSpec:
    if not isinstance(table, Mapping):
        raise ConfigError(path, "expected a table")
    type_name = table.get("type", name)
    try:
        btype = BreakerType(type_name)
    except ValueError:
        known = ", ".join(t.value for t in BreakerType)
        raise ConfigError(f"{path}.type", f"unknown breaker type {type_name!r} (known: {known})") from None
    cls, overrides = DEFAULTS[btype]
    hints = get_type_hints(cls)
    values = dict(overrides)
    for key, value in table.items():
        if key == "type":
            continue
        if key not in hints:
            raise ConfigError(f"{path}.{key}", f"unknown key for a {btype.value} breaker")
        values[key] = _coerce(f"{path}.{key}", value, hints[key])
    cfg = cls(**values)
    _validate(path, cfg)
    return BreakerSpec(name=name, type=btype, config=cfg)


def parse(source: Mapping[str, Any] | str | os.PathLike[str]) -> FacadeConfig:
    """Validate a configuration dict, or read and validate a TOML file."""
    if isinstance(source, str | os.PathLike):
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # the `trading` extra installs tomli there
            import tomli as tomllib
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                source = tomllib.load(f)
        except OSError as e:
            raise ConfigError("<file>", f"cannot read {path!r}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError("<file>", f"invalid TOML in {path!r}: {e}") from None
    if not isinstance(source, Mapping):
        raise ConfigError("<root>", "expected a table")
    top = {f.name for f in dataclasses.fields(FacadeConfig)}
    for key in source:
        if key not in top:
            raise ConfigError(key, "unknown key")
    tables = source.get("breakers")
    if tables is None:
        tables = {name: {} for name in STANDARD_SET}
    if not isinstance(tables, Mapping):
        raise ConfigError("breakers", "expected a table of breakers")
    specs = tuple(_breaker(f"breakers.{name}", str(name), t) for name, t in tables.items())
    hints = get_type_hints(FacadeConfig)
    values = {k: _coerce(k, source[k], hints[k]) for k in top - {"breakers"} if k in source}
    for k in ("history_size", "max_subscribers", "subscriber_queue_size"):
        if k in values and values[k] < 1:
            raise ConfigError(k, "must be >= 1")
    if values.get("subscriber_timeout", 1.0) <= 0:
        raise ConfigError("subscriber_timeout", "must be > 0")
    return FacadeConfig(breakers=specs, **values)
