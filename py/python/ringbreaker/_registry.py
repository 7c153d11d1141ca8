"""``Registry``: named breakers, held weakly."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from ._breaker import CircuitBreaker


class Registry:
    """Breakers by name. Holds them weakly: a breaker nobody else references is collected and
    disappears from the registry. Registering a second breaker under a live name is an error."""

    def __init__(self) -> None:
        self._breakers: weakref.WeakValueDictionary[str, CircuitBreaker] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def register(self, breaker: CircuitBreaker) -> CircuitBreaker:
        """Add ``breaker`` under its name and return it."""
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a CircuitBreaker, got {type(breaker).__name__}")
        with self._lock:
            existing = self._breakers.get(breaker.name)
            if existing is not None and existing is not breaker:
                raise ValueError(f"name: a breaker named {breaker.name!r} is already registered")
            self._breakers[breaker.name] = breaker
        return breaker

    def create(self, name: str, **kwargs: Any) -> CircuitBreaker:
        """Make a breaker and register it (the registry does not keep it alive)."""
        return self.register(CircuitBreaker(name, **kwargs))

    def unregister(self, name: str) -> None:
        """Remove the breaker named ``name``, if present."""
        with self._lock:
            self._breakers.pop(name, None)

    def get(self, name: str) -> CircuitBreaker | None:
        """The live breaker named ``name``, or ``None``."""
        return self._breakers.get(name)

    def __getitem__(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            raise KeyError(name)
        return breaker

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def __len__(self) -> int:
        return len(self._breakers)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._breakers.keys()))
