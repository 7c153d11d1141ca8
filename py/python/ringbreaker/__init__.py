"""ringbreaker: a circuit breaker whose hot path is a handful of atomic instructions.

The breaker itself is Rust (``ringbreaker._native``); this package adds decorators, context
managers, asyncio support, listeners and a registry. See :class:`CircuitBreaker`.
"""

from __future__ import annotations

from . import _native
from ._breaker import CircuitBreaker, Subscription, _dispatch
from ._registry import Registry
from ._shared import SharedCircuitBreaker, SharedHistory, SharedRegionError, shared, shared_now_ns, unlink_shared
from ._types import CircuitOpenError, Error, ForeignPermitError, Metrics, State, Transition

ManualClock = _native.ManualClock
Permit = _native.Permit
now_ns = _native.now_ns
__version__: str = _native.VERSION

_native.set_hooks(CircuitOpenError, ForeignPermitError, _dispatch)

__all__ = [
    "CircuitBreaker",
    "CircuitOpenError",
    "Error",
    "ForeignPermitError",
    "ManualClock",
    "Metrics",
    "Permit",
    "Registry",
    "SharedCircuitBreaker",
    "SharedHistory",
    "SharedRegionError",
    "State",
    "Subscription",
    "Transition",
    "now_ns",
    "shared",
    "shared_now_ns",
    "unlink_shared",
]
