"""ringbreaker: a circuit breaker whose hot path is a handful of atomic instructions.

The breaker itself is Rust (``ringbreaker._native``); this package adds decorators, context
managers, asyncio support, listeners and a registry. See :class:`CircuitBreaker`.
"""

from __future__ import annotations

from . import _native
from ._breaker import NO_FALLBACK, CircuitBreaker, Config, Subscription
from ._registry import Registry, get_or_create, registry
from ._shared import SharedCircuitBreaker, SharedHistory, shared, shared_now_ns, unlink_shared
from ._types import (
    CallEvent,
    CircuitOpenError,
    CircuitTimeoutError,
    ConfigError,
    Error,
    ForeignPermitError,
    Metrics,
    PermitReusedError,
    SharedRegionError,
    State,
    Totals,
    Transition,
)

ManualClock = _native.ManualClock
Permit = _native.Permit
now_ns = _native.now_ns
__version__: str = _native.VERSION

# Public classes print, and pickle, as ``ringbreaker.X``.
for _cls in (
    CallEvent,
    CircuitBreaker,
    CircuitOpenError,
    CircuitTimeoutError,
    ConfigError,
    Error,
    ForeignPermitError,
    Metrics,
    PermitReusedError,
    Registry,
    SharedCircuitBreaker,
    SharedHistory,
    SharedRegionError,
    State,
    Subscription,
    Totals,
    Transition,
):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "NO_FALLBACK",
    "CallEvent",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitTimeoutError",
    "Config",
    "ConfigError",
    "Error",
    "ForeignPermitError",
    "ManualClock",
    "Metrics",
    "Permit",
    "PermitReusedError",
    "Registry",
    "SharedCircuitBreaker",
    "SharedHistory",
    "SharedRegionError",
    "State",
    "Subscription",
    "Totals",
    "Transition",
    "get_or_create",
    "now_ns",
    "registry",
    "shared",
    "shared_now_ns",
    "unlink_shared",
]
