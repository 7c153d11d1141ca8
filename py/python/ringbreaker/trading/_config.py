"""Facade configuration: parsed once from a dict or a TOML file into frozen values.

Every error is a :class:`ConfigError` naming the key path (``breakers.vix.halt_at``)."""

from __future__ import annotations

import dataclasses
import math
import os
import reprlib
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Union, get_args, get_origin, get_type_hints

from ._model import BreakerType, Effect


class ConfigError(ValueError):
    """An invalid facade configuration. ``path`` is the offending key path (``breakers.vix.halt_at``,
    or ``<file>`` / ``<root>`` for the whole document). Every problem a dict or TOML config can
    have, including values the core refuses, is reported as this one error type, at load."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 40


def show(value: object) -> str:
    """A short, always-safe repr for error messages (huge ints, deep nesting, odd objects)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    try:
        return _REPR.repr(value)
    except Exception:  # a hostile __repr__, or a RecursionError
        return f"<a {type(value).__name__}>"


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


@dataclass(frozen=True, slots=True)
class LuldConfig:
    """Limit Up-Limit Down per symbol (LULD Plan, Appendix A as amended by Amendment 18). Symbols
    in ``tier1`` are Tier 1, all others Tier 2. A limit state not cleared within
    ``limit_state_seconds`` pauses the symbol for ``pause_minutes``; while any symbol is paused
    the breaker is open with ``effect``."""

    tier1: tuple[str, ...] = ()
    limit_state_seconds: float = 15.0
    pause_minutes: float = 5.0
    reference_window: float = 300.0
    reference_move: float = 0.01
    max_symbols: int = 10_000
    effect: Effect = Effect.REDUCE


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """Order submit/modify/cancel rates (MiFID II RTS 6 art. 15 style), written ``"100/1s"``,
    per symbol and in total, each counted on a core breaker's rolling window. On a breach,
    ``on_breach = "reject"`` refuses the order (``record_order`` returns False) and
    ``"latch"`` also opens the breaker with ``effect`` until a manual reset."""

    per_symbol: str | None = "100/1s"
    total: str | None = None
    on_breach: str = "reject"
    buckets: int = 10
    max_symbols: int = 10_000
    effect: Effect = Effect.HALT


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """The trading calendar: regular hours in ``timezone`` and the early-close days."""

    timezone: str = "America/New_York"
    open: str = "09:30"
    close: str = "16:00"
    early_close: str = "13:00"
    early_closes: tuple[date, ...] = ()


#: The ``follow`` modes of :class:`ringbreaker.cluster.AsyncCluster` (kept here so that parsing a
#: config never imports the ``redis`` client).
FOLLOW_MODES = ("trips", "all", "kill-switch-only")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """``[cluster]``: share the kill switches and the market-wide halt with the other facades
    on the same Redis (``ringbreaker.cluster``, the ``cluster`` extra). ``url`` is the Redis URL;
    ``origin`` names this facade in the others' attributions (default: host, pid and a random
    suffix; it must differ between facades); ``follow`` is the cluster's follow mode (the
    market-wide halt travels as a transition, so ``"kill-switch-only"`` leaves it local);
    ``namespace`` prefixes the Redis keys (facades share only within one namespace)."""

    url: str
    origin: str | None = None
    follow: str = "trips"
    namespace: str = "ringbreaker"


AnyConfig = Union[
    RateConfig, CountConfig, MarketWideConfig, VixConfig, DailyLossConfig, DrawdownConfig,
    ExposureConfig, StalenessConfig, VenueHaltConfig, KillSwitchConfig, LuldConfig, ThrottleConfig,
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
    BreakerType.DATA_QUALITY: (CountConfig, {"effect": Effect.HALT, "window": 60.0, "buckets": 12, "max_count": 3,
                                             "open_duration": 60.0}),
    BreakerType.LULD: (LuldConfig, {}),
    BreakerType.ORDER_THROTTLE: (ThrottleConfig, {}),
})

#: What `from_config({})` runs; a ``breakers`` table adds to it (merged by name), and
#: ``enabled = false`` in a breaker's table leaves one out.
STANDARD_SET = ("market_wide", "vix", "venue_halt", "kill_switch", "data_quality")

_U32 = 2**32 - 1
#: Accepted range of each numeric key, inclusive: (low, high). A bound of None is open.
RANGES: Mapping[str, tuple[float, float]] = types.MappingProxyType({
    "window": (0.001, 86_400.0),
    "buckets": (1, 1_000),
    "failure_rate": (0.0, 1.0),
    "minimum_calls": (0, _U32),
    "consecutive_failures": (1, _U32),
    "slow_call_duration": (0.000_001, 3_600.0),
    "slow_call_rate": (0.0, 1.0),
    "open_duration": (0.0, 86_400.0),
    "max_open_duration": (0.0, 86_400.0),
    "backoff_multiplier": (1.0, 100.0),
    "half_open_permits": (1, 1_000_000),
    "max_count": (1, _U32 - 1),
    "level1": (0.001, 0.999),
    "level2": (0.001, 0.999),
    "level3": (0.001, 0.999),
    "halt_minutes": (0.0, 390.0),
    "warn_fraction": (0.0, 1.0),
    "reduce_at": (0.01, 1_000.0),
    "halt_at": (0.01, 1_000.0),
    "clear_below": (0.0, 1_000.0),
    "clear_after": (0.0, 86_400.0),
    "limit": (0.01, 1e15),
    "max_drawdown": (0.000_1, 1.0),
    "clear_ratio": (0.0, 1.0),
    "max_age": (0.001, 86_400.0),
    "heartbeat_timeout": (0.001, 86_400.0),
    "limit_state_seconds": (0.001, 3_600.0),
    "pause_minutes": (0.001, 390.0),
    "reference_window": (1.0, 3_600.0),
    "reference_move": (0.0, 1.0),
    "max_symbols": (1, 1_000_000),
    "history_size": (1, 10_000_000),
    "max_subscribers": (1, 10_000),
    "subscriber_queue_size": (1, 10_000_000),
    "subscriber_timeout": (0.001, 3_600.0),
})


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
    calendar: CalendarConfig = CalendarConfig()
    cluster: ClusterConfig | None = None


def _coerce(path: str, value: Any, hint: Any) -> Any:
    """Check `value` against a dataclass field's type hint, converting ints to floats, strings to
    Effects and dates, lists to tuples."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _coerce(path, value, inner[0])
    if origin is tuple:
        (item,) = get_args(hint)[:1]
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"expected a list, got {show(value)}")
        if len(value) > 100_000:
            raise ConfigError(path, f"list too long ({len(value)} items; at most 100000)")
        return tuple(_coerce(f"{path}[{i}]", v, item) for i, v in enumerate(value))
    if hint is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise ConfigError(path, f"expected a date YYYY-MM-DD, got {show(value)}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected an integer, got {show(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number, got {show(value)}")
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise ConfigError(path, f"expected a finite number, got {show(value)}")
        return f
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {show(value)}")
        if len(value) > 1_000:
            raise ConfigError(path, f"string too long ({len(value)} characters; at most 1000)")
        return value
    if hint is Effect:
        try:
            return value if isinstance(value, Effect) else Effect(value)
        except (ValueError, TypeError):
            raise ConfigError(path, f"expected 'halt' or 'reduce', got {show(value)}") from None
    raise ConfigError(path, f"unsupported type {hint!r}")  # pragma: no cover


def hhmm(path: str, text: str) -> int:
    """``"HH:MM"`` as minutes after midnight, or a ConfigError naming `path`."""
    try:
        hh, mm = (int(x) for x in text.split(":"))
        if 0 <= hh < 24 and 0 <= mm < 60 and len(text) == 5:
            return hh * 60 + mm
    except ValueError:
        pass
    raise ConfigError(path, f"expected HH:MM (00:00..23:59), got {show(text)}")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0}


def parse_rate(path: str, text: str) -> tuple[int, float]:
    """``"100/1s"`` as (100, 1.0): at most 100 in any 1-second window."""
    import re

    m = re.fullmatch(r"\s*(\d{1,10})\s*/\s*(\d{0,6}(?:\.\d{1,6})?)\s*(ms|s|min|m)\s*", text)
    if m is None:
        raise ConfigError(path, f"expected a rate like '100/1s' (count/duration with ms, s or m), got {show(text)}")
    count = int(m.group(1))
    per = float(m.group(2) or "1") * _UNITS[m.group(3)]
    if not 1 <= count <= _U32 - 1:
        raise ConfigError(path, f"count {count} is out of range; accepted 1..{_U32 - 1}")
    if not 0.001 <= per <= 86_400.0:
        raise ConfigError(path, f"duration {per:g} s is out of range; accepted 0.001..86400 s")
    return count, per


def core_kwargs(cfg: RateConfig) -> dict[str, Any]:
    """The core CircuitBreaker arguments of a rate breaker's config."""
    return {f: getattr(cfg, f) for f in ("window", "buckets", "failure_rate", "minimum_calls",
                                         "consecutive_failures", "slow_call_duration", "slow_call_rate",
                                         "open_duration", "max_open_duration", "backoff_multiplier",
                                         "half_open_permits")}


def _core_check(path: str, kwargs: Mapping[str, Any]) -> None:
    """Build a throwaway core breaker so that any value the core refuses fails here, at load."""
    from .. import CircuitBreaker, ManualClock

    try:
        CircuitBreaker("config-check", clock=ManualClock(), **kwargs)
    except (ValueError, TypeError, OverflowError) as e:
        key = str(e).split(" ", 1)[0]
        where = f"{path}.{key}" if key in kwargs else path
        value = f" (value {show(kwargs[key])})" if key in kwargs else ""
        raise ConfigError(where, f"refused by the core breaker: {e}{value}") from None


def _validate(path: str, cfg: Any) -> None:
    """Range checks, each naming its key, its value and the accepted range."""

    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise ConfigError(f"{path}.{key}", message)

    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, int | float) and not isinstance(v, bool) and f.name in RANGES:
            lo, hi = RANGES[f.name]
            need(lo <= v <= hi, f.name, f"{show(v)} is out of range; accepted {lo:g}..{hi:g}")
    if isinstance(cfg, MarketWideConfig):
        need(cfg.level1 < cfg.level2 < cfg.level3, "level1",
             f"levels must increase: level1 < level2 < level3, got {cfg.level1:g}, {cfg.level2:g}, {cfg.level3:g}")
        hhmm(f"{path}.cutoff", cfg.cutoff)
    if isinstance(cfg, MarketWideConfig | DailyLossConfig | CalendarConfig):
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(cfg.timezone)
        except Exception:
            raise ConfigError(f"{path}.timezone", f"unknown time zone {show(cfg.timezone)}") from None
    if isinstance(cfg, CalendarConfig):
        o, c, e = hhmm(f"{path}.open", cfg.open), hhmm(f"{path}.close", cfg.close), hhmm(f"{path}.early_close",
                                                                                        cfg.early_close)
        need(o < e <= c, "early_close", f"expected open < early_close <= close, got {cfg.open}, {cfg.early_close}, "
                                        f"{cfg.close}")
    if isinstance(cfg, VixConfig):
        need(cfg.clear_below <= cfg.reduce_at <= cfg.halt_at, "reduce_at",
             f"expected clear_below <= reduce_at <= halt_at, got {cfg.clear_below:g}, {cfg.reduce_at:g}, "
             f"{cfg.halt_at:g}")
    if isinstance(cfg, RateConfig):
        _core_check(path, core_kwargs(cfg))
    if isinstance(cfg, CountConfig):
        _core_check(path, {"window": cfg.window, "buckets": cfg.buckets, "open_duration": cfg.open_duration})
    if isinstance(cfg, ThrottleConfig):
        need(cfg.on_breach in ("reject", "latch"), "on_breach",
             f"expected 'reject' or 'latch', got {show(cfg.on_breach)}")
        need(cfg.per_symbol is not None or cfg.total is not None, "per_symbol", "set per_symbol, total or both")
        for key in ("per_symbol", "total"):
            text = getattr(cfg, key)
            if text is not None:
                count, per = parse_rate(f"{path}.{key}", text)
                _core_check(f"{path}.{key}", {"window": per, "buckets": cfg.buckets})


def _breaker(path: str, name: str, table: Mapping[str, Any]) -> BreakerSpec | None:
    type_name = table.get("type", name)
    try:
        btype = BreakerType(type_name)
    except (ValueError, TypeError):
        known = ", ".join(t.value for t in BreakerType)
        raise ConfigError(f"{path}.type", f"unknown breaker type {show(type_name)} (known: {known})") from None
    cls, overrides = DEFAULTS[btype]
    hints = get_type_hints(cls)
    values = dict(overrides)
    for key, value in table.items():
        if key in ("type", "enabled"):
            continue
        if key not in hints:
            raise ConfigError(f"{path}.{key}", f"unknown key for a {btype.value} breaker "
                                               f"(known: {', '.join(sorted(hints))}, type, enabled)")
        values[key] = _coerce(f"{path}.{key}", value, hints[key])
    cfg = cls(**values)
    _validate(path, cfg)
    return BreakerSpec(name=name, type=btype, config=cfg)


def _tables(source: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The standard set merged by name with the config's ``breakers`` table."""
    merged: dict[str, dict[str, Any]] = {name: {} for name in STANDARD_SET}
    tables = source.get("breakers", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("breakers", f"expected a table of breakers, got {show(tables)}")
    for name, table in tables.items():
        path = f"breakers.{name}"
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ConfigError(path, "a breaker name is a non-empty string of at most 100 characters")
        if not isinstance(table, Mapping):
            raise ConfigError(path, f"expected a table, got {show(table)}")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{path}.enabled", f"expected true or false, got {show(enabled)}")
        if not enabled:
            merged.pop(name, None)
            continue
        merged.setdefault(name, {}).update(table)
    return merged


def _load_toml(path: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the `trading` extra installs tomli there
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            raw = f.read(10_000_001)
    except OSError as e:
        raise ConfigError("<file>", f"cannot read {path!r}: {e.strerror}") from None
    if len(raw) > 10_000_000:
        raise ConfigError("<file>", f"{path!r} is larger than 10 MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("<file>", f"{path!r} is not UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("<file>", f"invalid TOML in {path!r}: {e}") from None
    except RecursionError:
        raise ConfigError("<file>", f"{path!r} is nested too deeply") from None


def parse(source: Mapping[str, Any] | str | os.PathLike[str]) -> FacadeConfig:
    """Validate a configuration dict, or read and validate a TOML file. Every problem is a
    :class:`ConfigError` naming the key path."""
    try:
        return _parse(source)
    except RecursionError:
        raise ConfigError("<root>", "the configuration is nested too deeply") from None


def _parse(source: Mapping[str, Any] | str | os.PathLike[str]) -> FacadeConfig:
    if isinstance(source, str | os.PathLike):
        source = _load_toml(os.fspath(source))
    if not isinstance(source, Mapping):
        raise ConfigError("<root>", f"expected a table, got {show(source)}")
    top = {f.name for f in dataclasses.fields(FacadeConfig)}
    for key in source:
        if key not in top:
            raise ConfigError(str(key), f"unknown key (known: {', '.join(sorted(top))})")
    specs = tuple(s for name, t in _tables(source).items()
                  if (s := _breaker(f"breakers.{name}", name, t)) is not None)
    hints = get_type_hints(FacadeConfig)
    values: dict[str, Any] = {}
    for k in top - {"breakers", "calendar", "cluster"}:
        if k in source:
            values[k] = _coerce(k, source[k], hints[k])
            lo, hi = RANGES[k]
            if not lo <= values[k] <= hi:
                raise ConfigError(k, f"{show(values[k])} is out of range; accepted {lo:g}..{hi:g}")
    cal = source.get("calendar", {})
    if not isinstance(cal, Mapping):
        raise ConfigError("calendar", f"expected a table, got {show(cal)}")
    cal_hints = get_type_hints(CalendarConfig)
    cal_values = {}
    for key, value in cal.items():
        if key not in cal_hints:
            raise ConfigError(f"calendar.{key}", f"unknown key (known: {', '.join(sorted(cal_hints))})")
        cal_values[key] = _coerce(f"calendar.{key}", value, cal_hints[key])
    calendar = CalendarConfig(**cal_values)
    _validate("calendar", calendar)
    return FacadeConfig(breakers=specs, calendar=calendar, cluster=_cluster(source.get("cluster")), **values)


def _cluster(table: Any) -> ClusterConfig | None:
    """The ``[cluster]`` table, validated (None when absent)."""
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError("cluster", f"expected a table, got {show(table)}")
    hints = get_type_hints(ClusterConfig)
    values = {}
    for key, value in table.items():
        if key not in hints:
            raise ConfigError(f"cluster.{key}", f"unknown key (known: {', '.join(sorted(hints))})")
        values[key] = _coerce(f"cluster.{key}", value, hints[key])
    if "url" not in values:
        raise ConfigError("cluster.url", "missing: the Redis URL, e.g. 'redis://host:6379/0'")
    if not values["url"].startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("cluster.url", f"expected a redis://, rediss:// or unix:// URL, got {show(values['url'])}")
    if values.get("follow", "trips") not in FOLLOW_MODES:
        raise ConfigError("cluster.follow", f"expected one of {', '.join(map(repr, FOLLOW_MODES))}, "
                                            f"got {show(values['follow'])}")
    origin = values.get("origin")
    if origin is not None and (not origin or ": " in origin):
        raise ConfigError("cluster.origin", f"expected a non-empty name without ': ', got {show(origin)}")
    if not values.get("namespace", "ringbreaker"):
        raise ConfigError("cluster.namespace", "expected a non-empty string")
    return ClusterConfig(**values)
