"""``Registry``: named breakers, held strongly until removed; and the default registry."""

from __future__ import annotations

import threading
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._breaker import _CONFIG_DEFAULTS, CircuitBreaker, Config
from ._types import ConfigError


def _same(a: object, b: object) -> bool:
    """Option equality; functions (lambdas included) compare by their code and module."""
    if a is b:
        return True
    if isinstance(a, types.FunctionType) and isinstance(b, types.FunctionType):
        return a.__code__ == b.__code__ and a.__module__ == b.__module__
    try:
        return bool(a == b)
    except Exception:
        return False


def _config_of(options: dict[str, Any]) -> Any:
    if options.get("config") is not None:
        return options["config"]
    kw = {k: options.get(k, v) for k, v in _CONFIG_DEFAULTS.items()}
    if options.get("timeout") is not None and kw["slow_call_duration"] is None:
        kw["slow_call_duration"] = options["timeout"]
    return Config(**kw)


class Registry:
    """Breakers by name, held strongly: a breaker stays registered (and keeps its state) until
    :meth:`remove`. Thread-safe.

    ``get_or_create(name, **options)`` returns the breaker of that name, making it with
    ``options`` (the :class:`CircuitBreaker` parameters) the first time. Asking again with
    options that differ from the breaker's raises :class:`ConfigError`; asking with no options
    returns it as it is.
    """

    def __init__(self) -> None:
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get_or_create(self, name: str, **options: Any) -> CircuitBreaker:
        """The breaker named ``name``, made with ``options`` if there is none yet."""
        with self._lock:
            existing = self._breakers.get(name)
            if existing is None:
                breaker = CircuitBreaker(name, **options)
                self._breakers[name] = breaker
                return breaker
        if options:
            self._check(existing, options)
        return existing

    @staticmethod
    def _check(existing: CircuitBreaker, options: dict[str, Any]) -> None:
        have = existing._options
        diffs = []
        if _config_of(options) != existing.config:
            diffs.append(f"config {_config_of(options)!r} != {existing.config!r}")
        for key, value in options.items():
            if key in _CONFIG_DEFAULTS or key == "config":
                continue
            if key not in have:
                raise TypeError(f"unexpected option {key!r}")
            if not _same(value, have[key]):
                diffs.append(f"{key}={value!r} (registered: {have[key]!r})")
        if diffs:
            raise ConfigError(
                f"a breaker named {existing.name!r} is already registered with a different configuration: "
                + "; ".join(diffs)
                + " -- use another name, or get it without options",
                "name",
            )

    def register(self, breaker: CircuitBreaker) -> CircuitBreaker:
        """Add ``breaker`` under its name and return it. Another breaker under that name is
        an error."""
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a CircuitBreaker, got {type(breaker).__name__}")
        with self._lock:
            existing = self._breakers.get(breaker.name)
            if existing is not None and existing is not breaker:
                raise ValueError(f"name: a breaker named {breaker.name!r} is already registered")
            self._breakers[breaker.name] = breaker
        return breaker

    def create(self, name: str, **options: Any) -> CircuitBreaker:
        """Make a breaker and register it; the name must be free."""
        return self.register(CircuitBreaker(name, **options))

    def remove(self, name: str) -> CircuitBreaker | None:
        """Remove and return the breaker named ``name`` (``None`` if absent)."""
        with self._lock:
            return self._breakers.pop(name, None)

    unregister = remove

    def get(self, name: str) -> CircuitBreaker | None:
        """The breaker named ``name``, or ``None``."""
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
        with self._lock:
            return iter(list(self._breakers))


registry = Registry()
"""The default registry: :func:`get_or_create` and unpickled breakers use it."""


def get_or_create(name: str, **options: Any) -> CircuitBreaker:
    """``registry.get_or_create(name, **options)`` on the default registry."""
    return registry.get_or_create(name, **options)


def _restore(name: str, options: dict[str, Any]) -> CircuitBreaker:
    """Unpickle a breaker: the default registry's breaker of that name."""
    with registry._lock:
        existing = registry._breakers.get(name)
    if existing is not None:
        return existing
    return registry.get_or_create(name, **options)


def breaker_source(breakers: Registry | Iterable[CircuitBreaker]) -> Callable[[], list[CircuitBreaker]]:
    """What an exporter reads at each collection: the registry's current breakers, or the given
    breakers held weakly (a breaker that is gone drops out). Shared by the Prometheus collector
    and the OpenTelemetry instruments."""
    if isinstance(breakers, Registry):
        reg = breakers

        def from_registry() -> list[CircuitBreaker]:
            return [b for b in (reg.get(n) for n in reg) if b is not None]

        return from_registry
    fixed = list(breakers)
    for b in fixed:
        if not isinstance(b, CircuitBreaker):
            raise TypeError(f"breakers must hold CircuitBreaker values, got {type(b).__name__}")
    refs = [weakref.ref(b) for b in fixed]

    def from_refs() -> list[CircuitBreaker]:
        return [b for b in (r() for r in refs) if b is not None]

    return from_refs
