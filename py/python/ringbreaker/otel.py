"""``ringbreaker.otel``: OpenTelemetry metrics for every breaker of a registry.

Needs the ``otel`` extra (``pip install ringbreaker[otel]``: ``opentelemetry-api`` only; the
application brings the SDK and exporter it already uses)::

    from ringbreaker.otel import instrument
    handle = instrument(registry)          # the global MeterProvider, or meter_provider=...
    ...
    handle.close()

Instruments (meter ``ringbreaker``), each data point with the ``circuitbreaker.name`` attribute:

* ``circuitbreaker.state`` — observable gauge, one point per state with ``circuitbreaker.state``
  (``closed``, ``open``, ``half_open``, ``forced_open``, ``disabled``, ``metrics_only``): 1 for the
  current state, 0 for the others.
* ``circuitbreaker.buffered_calls`` — observable gauge of the window's calls, ``kind`` =
  ``successful`` / ``failed``; ``circuitbreaker.slow_calls`` — observable gauge.
* ``circuitbreaker.failure_rate``, ``circuitbreaker.slow_call_rate`` — observable gauges, a ratio
  0..1 (unit ``1``, as OpenTelemetry prefers; the Prometheus collector reports percent).
* ``circuitbreaker.not_permitted_calls``, ``circuitbreaker.stale_calls`` — observable counters
  (monotonic totals since the breaker was made).
* ``circuitbreaker.transitions`` — counter, added to on each transition seen after ``instrument``
  subscribed (attributes ``circuitbreaker.state`` = the new state, ``circuitbreaker.from_state``,
  ``circuitbreaker.reason``).

The observable instruments are read when the SDK collects; nothing runs between collections.
Breakers registered later are picked up at the next collection.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from ._breaker import CircuitBreaker, Subscription
from ._registry import Registry
from ._types import Metrics, State, Transition

__all__ = ["Instrumentation", "instrument"]

STATE_LABELS: dict[State, str] = {
    State.CLOSED: "closed",
    State.OPEN: "open",
    State.HALF_OPEN: "half_open",
    State.FORCED_OPEN: "forced_open",
    State.DISABLED: "disabled",
    State.METRICS_ONLY: "metrics_only",
}

NAME = "circuitbreaker.name"
STATE = "circuitbreaker.state"


class Instrumentation:
    """What :func:`instrument` made. ``close()`` unsubscribes from the breakers and makes every
    callback report nothing (the API has no way to remove an instrument)."""

    def __init__(self, source: Callable[[], Iterable[CircuitBreaker]], meter: Meter) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._subs: weakref.WeakKeyDictionary[CircuitBreaker, Subscription] = weakref.WeakKeyDictionary()
        self._closed = False
        self._transitions = meter.create_counter(
            "circuitbreaker.transitions", unit="{transition}", description="Circuit breaker state transitions"
        )
        self.instruments = [
            meter.create_observable_gauge(
                "circuitbreaker.state",
                [self._state],
                unit="1",
                description="1 for the breaker's current state, 0 otherwise",
            ),
            meter.create_observable_gauge(
                "circuitbreaker.buffered_calls",
                [self._buffered],
                unit="{call}",
                description="Calls in the current window",
            ),
            meter.create_observable_gauge(
                "circuitbreaker.slow_calls",
                [self._gauge(lambda m: m.slow_calls)],
                unit="{call}",
                description="Slow calls in the current window",
            ),
            meter.create_observable_gauge(
                "circuitbreaker.failure_rate",
                [self._gauge(lambda m: m.failure_rate)],
                unit="1",
                description="Failures over calls in the current window",
            ),
            meter.create_observable_gauge(
                "circuitbreaker.slow_call_rate",
                [self._gauge(lambda m: m.slow_call_rate)],
                unit="1",
                description="Slow calls over calls in the current window",
            ),
            meter.create_observable_counter(
                "circuitbreaker.not_permitted_calls",
                [self._gauge(lambda m: m.rejected)],
                unit="{call}",
                description="Calls rejected since the breaker was made",
            ),
            meter.create_observable_counter(
                "circuitbreaker.stale_calls",
                [self._gauge(lambda m: m.stale)],
                unit="{call}",
                description="Outcomes recorded with a permit from an older generation",
            ),
        ]
        self.watch()

    def watch(self) -> None:
        """Subscribe to breakers not seen yet (also done at every collection)."""
        with self._lock:
            if self._closed:
                return
            for b in self._source():
                if b not in self._subs:
                    self._subs[b] = b.subscribe(self._on_transition)

    def _on_transition(self, t: Transition) -> None:
        self._transitions.add(
            1,
            {
                NAME: t.breaker,
                STATE: STATE_LABELS[t.to_state],
                "circuitbreaker.from_state": STATE_LABELS[t.from_state],
                "circuitbreaker.reason": t.reason,
            },
        )

    def _snapshots(self) -> list[tuple[str, Metrics]]:
        if self._closed:
            return []
        self.watch()
        return [(b.name, b.metrics()) for b in self._source()]

    def _state(self, options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for name, m in self._snapshots():
            for s, label in STATE_LABELS.items():
                out.append(Observation(1 if m.state == s else 0, {NAME: name, STATE: label}))
        return out

    def _buffered(self, options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for name, m in self._snapshots():
            out.append(Observation(m.successes, {NAME: name, "kind": "successful"}))
            out.append(Observation(m.failures, {NAME: name, "kind": "failed"}))
        return out

    def _gauge(self, value: Callable[[Metrics], float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value(m), {NAME: name}) for name, m in self._snapshots()]

        return callback

    def close(self) -> None:
        """Stop reporting. Idempotent."""
        with self._lock:
            self._closed = True
            subs = list(self._subs.values())
            self._subs = weakref.WeakKeyDictionary()
        for s in subs:
            s.close()


def instrument(
    breakers: Registry | Iterable[CircuitBreaker],
    *,
    meter_provider: MeterProvider | None = None,
) -> Instrumentation:
    """Report every live breaker of ``breakers`` (a :class:`~ringbreaker.Registry` — breakers
    registered later included — or a fixed iterable, held weakly) through OpenTelemetry, on the
    meter ``ringbreaker`` of ``meter_provider`` (default: the global one)."""
    if isinstance(breakers, Registry):
        reg = breakers

        def source() -> list[CircuitBreaker]:
            return [b for b in (reg.get(n) for n in reg) if b is not None]

    else:
        fixed = list(breakers)
        for b in fixed:
            if not isinstance(b, CircuitBreaker):
                raise TypeError(f"breakers must hold CircuitBreaker values, got {type(b).__name__}")
        refs = [weakref.ref(b) for b in fixed]

        def source() -> list[CircuitBreaker]:
            return [b for b in (r() for r in refs) if b is not None]

    from . import __version__

    meter = (meter_provider or metrics.get_meter_provider()).get_meter("ringbreaker", __version__)
    return Instrumentation(source, meter)
