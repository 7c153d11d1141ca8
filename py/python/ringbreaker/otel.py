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

The trading facade: ``instrument_trading(tb, attributes={"desk": "eu"})`` reports, on the same
meter, with the given attributes on every point:

* ``trading.state`` — observable gauge, one point per state with ``trading.state`` (``active``,
  ``reducing``, ``halted``): 1 for the facade's state, 0 for the others.
* ``trading.breaker.tripped`` — observable gauge, one point per facade breaker
  (``circuitbreaker.name``, ``trading.breaker.type``): 1 while it is open, else 0.
* ``trading.risk_score`` — observable gauge, the status's risk score (0..100).
* ``trading.checks``, ``trading.events`` (``trading.event.kind``), ``trading.dropped_events`` and
  ``trading.subscriber.dropped_events`` (``trading.subscriber``, each live subscriber's drops
  summed by name) — observable counters since the facade was made.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from ._breaker import CircuitBreaker, Subscription
from ._registry import Registry, breaker_source
from ._types import Metrics, State, Transition

if TYPE_CHECKING:
    from .trading import TradingBreakers, TradingGauges

__all__ = ["Instrumentation", "TradingInstrumentation", "instrument", "instrument_trading"]

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
    source = breaker_source(breakers)
    from . import __version__

    meter = (meter_provider or metrics.get_meter_provider()).get_meter("ringbreaker", __version__)
    return Instrumentation(source, meter)


class TradingInstrumentation:
    """What :func:`instrument_trading` made. ``close()`` makes every callback report nothing
    (the API has no way to remove an instrument). The facade is held weakly."""

    def __init__(self, facade: TradingBreakers, meter: Meter, attributes: Mapping[str, str]) -> None:
        self._facade = weakref.ref(facade)
        self._attrs = dict(attributes)
        self._closed = False
        self.instruments = [
            meter.create_observable_gauge(
                "trading.state", [self._state], unit="1", description="1 for the trading facade's state, 0 otherwise"
            ),
            meter.create_observable_gauge(
                "trading.breaker.tripped", [self._tripped], unit="1", description="1 while the facade breaker is open"
            ),
            meter.create_observable_gauge(
                "trading.risk_score",
                [self._one(lambda g: g.risk_score)],
                unit="{score}",
                description="The trading facade's risk score, 0..100",
            ),
            meter.create_observable_counter(
                "trading.checks", [self._one(lambda g: g.checks)], unit="{check}", description="Snapshots checked"
            ),
            meter.create_observable_counter(
                "trading.events", [self._events], unit="{event}", description="Events published, by kind"
            ),
            meter.create_observable_counter(
                "trading.dropped_events",
                [self._one(lambda g: g.dropped_events)],
                unit="{event}",
                description="Events dropped by full subscriber queues",
            ),
            meter.create_observable_counter(
                "trading.subscriber.dropped_events",
                [self._per_subscriber],
                unit="{event}",
                description="Events dropped, per live subscriber",
            ),
        ]

    def _gauges(self) -> TradingGauges | None:
        tb = None if self._closed else self._facade()
        return None if tb is None else tb.gauges()

    def _state(self, options: CallbackOptions) -> Iterable[Observation]:
        g = self._gauges()
        if g is None:
            return []
        return [
            Observation(1 if g.state.value == s else 0, {**self._attrs, "trading.state": s})
            for s in ("active", "reducing", "halted")
        ]

    def _tripped(self, options: CallbackOptions) -> Iterable[Observation]:
        g = self._gauges()
        if g is None:
            return []
        return [
            Observation(1 if is_open else 0, {**self._attrs, NAME: name, "trading.breaker.type": g.types[name].value})
            for name, is_open in g.tripped.items()
        ]

    def _events(self, options: CallbackOptions) -> Iterable[Observation]:
        g = self._gauges()
        if g is None:
            return []
        return [Observation(n, {**self._attrs, "trading.event.kind": kind}) for kind, n in g.events_by_kind.items()]

    def _per_subscriber(self, options: CallbackOptions) -> Iterable[Observation]:
        g = self._gauges()
        if g is None:
            return []
        return [Observation(n, {**self._attrs, "trading.subscriber": sub}) for sub, n in g.subscriber_drops.items()]

    def _one(self, value: Callable[[TradingGauges], float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            g = self._gauges()
            return [] if g is None else [Observation(value(g), dict(self._attrs))]

        return callback

    def close(self) -> None:
        """Stop reporting. Idempotent."""
        self._closed = True


def instrument_trading(
    facade: TradingBreakers,
    *,
    meter_provider: MeterProvider | None = None,
    attributes: Mapping[str, str] | None = None,
) -> TradingInstrumentation:
    """Report a trading facade's state, tripped breakers, risk score and event counters through
    OpenTelemetry, on the meter ``ringbreaker`` of ``meter_provider`` (default: the global one);
    ``attributes`` are added to every point (``{"desk": "eu"}``)."""
    from . import __version__
    from .trading import TradingBreakers

    if not isinstance(facade, TradingBreakers):
        raise TypeError(f"facade must be a ringbreaker.trading.TradingBreakers, got {type(facade).__name__}")
    attrs = dict(attributes or {})
    for k, v in attrs.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"attributes must map str to str, got {k!r}: {v!r}")
    meter = (meter_provider or metrics.get_meter_provider()).get_meter("ringbreaker", __version__)
    return TradingInstrumentation(facade, meter, attrs)
