"""``ringbreaker.prometheus``: a ``prometheus_client`` collector for every breaker of a registry.

Needs the ``prometheus`` extra (``pip install ringbreaker[prometheus]``)::

    from prometheus_client import start_http_server
    from ringbreaker import Registry
    from ringbreaker.prometheus import CircuitBreakerCollector

    registry = Registry()
    CircuitBreakerCollector(registry).register()   # into prometheus_client's default REGISTRY
    start_http_server(9100)

Series, one set per breaker (label ``name``), under the names Resilience4j's Micrometer binding
uses, so existing dashboards work (``ringbreaker_names=True`` gives the same series with the
``ringbreaker_`` prefix instead of ``resilience4j_``):

* ``resilience4j_circuitbreaker_state{name,state}`` — gauge, 1 for the current state and 0 for the
  five others (``closed``, ``open``, ``half_open``, ``forced_open``, ``disabled``,
  ``metrics_only``).
* ``resilience4j_circuitbreaker_buffered_calls{name,kind}`` — gauge, ``kind`` ``successful`` /
  ``failed``: the calls in the current window.
* ``resilience4j_circuitbreaker_slow_calls{name}`` — gauge, slow calls in the window (the core
  counts them without splitting by outcome, so there is no ``kind`` label).
* ``resilience4j_circuitbreaker_failure_rate{name}`` and ``..._slow_call_rate{name}`` — gauges in
  percent (0..100) as Resilience4j reports them. Unlike Resilience4j they are never -1: below
  ``minimum_calls`` they are the plain rate over the window's calls (0 with no calls).
* ``resilience4j_circuitbreaker_not_permitted_calls_total{name,kind="not_permitted"}`` — counter,
  the calls rejected since the breaker was made.
* ringbreaker's own: ``..._stale_calls_total{name}`` (outcomes recorded with a permit from an older
  generation), ``..._generation{name}`` (gauge) and ``..._transitions_total{name,from_state,
  to_state,reason}`` (counted from the moment the collector first sees the breaker: it
  subscribes to each breaker of the registry at construction and at each scrape).

* ``..._calls_seconds{name,kind="successful|failed|ignored"}`` — histogram of call durations
  (``_bucket{le}``, ``_sum``, ``_count``), fed by the breaker's per-call hooks
  (:meth:`~ringbreaker.CircuitBreaker.subscribe_calls`) from the moment the collector first sees
  the breaker. Only timed calls have a duration: a breaker times its calls when
  ``slow_call_duration``, ``timeout`` or ``time_calls=True`` is set.

Each scrape takes one ``metrics()`` snapshot per breaker (O(buckets), no lock shared with calls).

The trading facade (:class:`ringbreaker.trading.TradingBreakers`) has its own collector,
``TradingCollector(tb, labels={"desk": "eu"}).register()``, with these series (each also with the
constant ``labels`` given):

* ``ringbreaker_trading_state{state}`` — gauge, 1 for the facade's state and 0 for the two others
  (``active``, ``reducing``, ``halted``).
* ``ringbreaker_trading_breaker_tripped{name,type}`` — gauge, 1 while the facade breaker ``name``
  is open (tripped, latched or halting), else 0: one series per configured breaker.
* ``ringbreaker_trading_risk_score`` — gauge, the status's risk score (0..100).
* ``ringbreaker_trading_checks_total``, ``ringbreaker_trading_events_total{kind}``,
  ``ringbreaker_trading_dropped_events_total`` — counters since the facade was made;
  ``ringbreaker_trading_subscriber_dropped_events_total{subscriber}`` — each live subscriber's
  dropped events, summed by subscriber name (a closed subscriber's series goes away).

A scrape reads :meth:`~ringbreaker.trading.TradingBreakers.gauges` (O(breakers + subscribers),
safe from the scrape thread).
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from ._breaker import CircuitBreaker, Subscription
from ._registry import Registry, breaker_source
from ._types import CallEvent, State, Transition

if TYPE_CHECKING:
    from .trading import TradingBreakers

__all__ = ["CircuitBreakerCollector", "TradingCollector"]

STATE_LABELS: dict[State, str] = {
    State.CLOSED: "closed",
    State.OPEN: "open",
    State.HALF_OPEN: "half_open",
    State.FORCED_OPEN: "forced_open",
    State.DISABLED: "disabled",
    State.METRICS_ONLY: "metrics_only",
}

#: Upper bounds (seconds) of the ``..._calls_seconds`` histogram's buckets, from 100 µs to 10 s.
CALL_SECONDS_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# A call hook's outcome kind -> Resilience4j's `kind` label.
_CALL_KINDS = {"success": "successful", "failure": "failed", "ignored": "ignored"}


class CircuitBreakerCollector(Collector):
    """Exports every live breaker of ``breakers`` (a :class:`~ringbreaker.Registry`, or an
    iterable of breakers, or a zero-argument callable returning one) at each scrape.

    ``ringbreaker_names=True`` prefixes the series ``ringbreaker_`` instead of ``resilience4j_``.
    """

    def __init__(
        self,
        breakers: Registry | Iterable[CircuitBreaker] | Callable[[], Iterable[CircuitBreaker]],
        *,
        ringbreaker_names: bool = False,
    ) -> None:
        if not isinstance(ringbreaker_names, bool):
            raise TypeError(f"ringbreaker_names must be a bool, got {type(ringbreaker_names).__name__}")
        self._source: Callable[[], Iterable[CircuitBreaker]] = (
            breakers if callable(breakers) else breaker_source(breakers)
        )
        self._prefix = "ringbreaker" if ringbreaker_names else "resilience4j"
        self._lock = threading.Lock()
        self._subs: weakref.WeakKeyDictionary[CircuitBreaker, Subscription] = weakref.WeakKeyDictionary()
        self._transitions: dict[tuple[str, str, str, str], int] = {}
        self._call_subs: weakref.WeakKeyDictionary[CircuitBreaker, Subscription] = weakref.WeakKeyDictionary()
        # (name, kind) -> [count per bucket (not cumulative), sum of seconds]
        self._durations: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self._closed = False
        self.watch()

    def _breakers(self) -> list[CircuitBreaker]:
        return list(self._source())

    def watch(self) -> None:
        """Subscribe to breakers not seen yet, to count their transitions from now on. Called at
        construction and at every scrape; call it after registering new breakers to count their
        first transitions before the next scrape."""
        with self._lock:
            if self._closed:
                return
            for b in self._breakers():
                if b not in self._subs:
                    self._subs[b] = b.subscribe(self._count)
                    self._call_subs[b] = b.subscribe_calls(self._observe)

    def _count(self, t: Transition) -> None:
        key = (t.breaker, STATE_LABELS[t.from_state], STATE_LABELS[t.to_state], t.reason)
        with self._lock:
            self._transitions[key] = self._transitions.get(key, 0) + 1

    def _observe(self, ev: CallEvent) -> None:
        kind = _CALL_KINDS.get(ev.kind)
        if kind is None or ev.duration is None:
            return
        i = bisect.bisect_left(CALL_SECONDS_BUCKETS, ev.duration)
        with self._lock:
            counts, total = self._durations.setdefault(
                (ev.breaker, kind), ([0] * (len(CALL_SECONDS_BUCKETS) + 1), [0.0])
            )
            counts[i] += 1
            total[0] += ev.duration

    def close(self) -> None:
        """Stop counting transitions and call durations (unsubscribes from every breaker)."""
        with self._lock:
            self._closed = True
            subs = [*self._subs.values(), *self._call_subs.values()]
            self._subs = weakref.WeakKeyDictionary()
            self._call_subs = weakref.WeakKeyDictionary()
        for s in subs:
            s.close()

    def register(self, registry: CollectorRegistry = REGISTRY) -> CircuitBreakerCollector:
        """Register with ``registry`` (default: prometheus_client's global one); returns self."""
        registry.register(self)
        return self

    def describe(self) -> Iterable[Metric]:
        return []  # no fixed set of series: the breakers come and go

    def collect(self) -> Iterator[Metric]:
        self.watch()
        p = f"{self._prefix}_circuitbreaker"
        state = GaugeMetricFamily(
            f"{p}_state", "The states of the circuit breaker (1 = current)", labels=["name", "state"]
        )
        buffered = GaugeMetricFamily(
            f"{p}_buffered_calls", "The number of buffered calls in the current window", labels=["name", "kind"]
        )
        slow = GaugeMetricFamily(f"{p}_slow_calls", "The number of slow calls in the current window", labels=["name"])
        failure_rate = GaugeMetricFamily(
            f"{p}_failure_rate", "The failure rate of the circuit breaker, percent", labels=["name"]
        )
        slow_rate = GaugeMetricFamily(
            f"{p}_slow_call_rate", "The slow call rate of the circuit breaker, percent", labels=["name"]
        )
        not_permitted = CounterMetricFamily(
            f"{p}_not_permitted_calls", "Total number of not permitted calls", labels=["name", "kind"]
        )
        stale = CounterMetricFamily(
            f"{p}_stale_calls", "Outcomes recorded with a permit from an older generation", labels=["name"]
        )
        generation = GaugeMetricFamily(
            f"{p}_generation", "Transitions so far (the breaker's generation)", labels=["name"]
        )
        transitions = CounterMetricFamily(
            f"{p}_transitions",
            "State transitions seen since the collector subscribed",
            labels=["name", "from_state", "to_state", "reason"],
        )
        for b in sorted(self._breakers(), key=lambda b: b.name):
            m = b.metrics()
            name = b.name
            for s, label in STATE_LABELS.items():
                state.add_metric([name, label], 1.0 if m.state == s else 0.0)
            buffered.add_metric([name, "successful"], m.successes)
            buffered.add_metric([name, "failed"], m.failures)
            slow.add_metric([name], m.slow_calls)
            failure_rate.add_metric([name], m.failure_rate * 100.0)
            slow_rate.add_metric([name], m.slow_call_rate * 100.0)
            not_permitted.add_metric([name, "not_permitted"], m.rejected)
            stale.add_metric([name], m.stale)
            generation.add_metric([name], m.generation)
        calls = HistogramMetricFamily(
            f"{p}_calls_seconds", "Duration of timed calls, by outcome", labels=["name", "kind"]
        )
        with self._lock:
            counted = sorted(self._transitions.items())
            durations = sorted((k, (list(c), t[0])) for k, (c, t) in self._durations.items())
        for labels, n in counted:
            transitions.add_metric(list(labels), n)
        for (name, kind), (counts, total) in durations:
            cumulative, buckets = 0, []
            for le, n in zip([*map(str, CALL_SECONDS_BUCKETS), "+Inf"], counts, strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            calls.add_metric([name, kind], buckets, sum_value=total)
        yield from (
            state,
            buffered,
            slow,
            failure_rate,
            slow_rate,
            not_permitted,
            stale,
            generation,
            transitions,
            calls,
        )


_TRADING_STATES = ("active", "reducing", "halted")


class TradingCollector(Collector):
    """Exports a trading facade's state, tripped breakers, risk score and event counters at each
    scrape (see the module docstring for the series). ``labels`` are added to every series, to
    tell several facades of one process apart (``{"desk": "eu"}``)."""

    def __init__(self, facade: TradingBreakers, *, labels: Mapping[str, str] | None = None) -> None:
        from .trading import TradingBreakers

        if not isinstance(facade, TradingBreakers):
            raise TypeError(f"facade must be a ringbreaker.trading.TradingBreakers, got {type(facade).__name__}")
        fixed = dict(labels or {})
        for k, v in fixed.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"labels must map str to str, got {k!r}: {v!r}")
            if k in ("state", "name", "type", "kind", "subscriber"):
                raise ValueError(f"labels: {k!r} is a label of the collector's own series")
        self._facade = weakref.ref(facade)
        self._keys = list(fixed)
        self._values = list(fixed.values())

    def register(self, registry: CollectorRegistry = REGISTRY) -> TradingCollector:
        """Register with ``registry`` (default: prometheus_client's global one); returns self."""
        registry.register(self)
        return self

    def describe(self) -> Iterable[Metric]:
        return []  # the series depend on the facade's breakers and subscribers

    def collect(self) -> Iterator[Metric]:
        tb = self._facade()
        if tb is None:
            return
        g = tb.gauges()
        k, v = self._keys, self._values
        p = "ringbreaker_trading"
        state = GaugeMetricFamily(f"{p}_state", "The trading facade's state (1 = current)", labels=[*k, "state"])
        for label in _TRADING_STATES:
            state.add_metric([*v, label], 1.0 if g.state.value == label else 0.0)
        tripped = GaugeMetricFamily(
            f"{p}_breaker_tripped", "1 while the facade breaker is open", labels=[*k, "name", "type"]
        )
        for name, is_open in sorted(g.tripped.items()):
            tripped.add_metric([*v, name, g.types[name].value], 1.0 if is_open else 0.0)
        risk = GaugeMetricFamily(f"{p}_risk_score", "The trading facade's risk score, 0..100", labels=k)
        risk.add_metric(v, g.risk_score)
        checks = CounterMetricFamily(f"{p}_checks", "Snapshots checked", labels=k)
        checks.add_metric(v, g.checks)
        events = CounterMetricFamily(f"{p}_events", "Events published, by kind", labels=[*k, "kind"])
        for kind, n in sorted(g.events_by_kind.items()):
            events.add_metric([*v, kind], n)
        dropped = CounterMetricFamily(f"{p}_dropped_events", "Events dropped by full subscriber queues", labels=k)
        dropped.add_metric(v, g.dropped_events)
        per_sub = CounterMetricFamily(
            f"{p}_subscriber_dropped_events", "Events dropped, per live subscriber", labels=[*k, "subscriber"]
        )
        for sub, n in sorted(g.subscriber_drops.items()):
            per_sub.add_metric([*v, sub], n)
        yield from (state, tripped, risk, checks, events, dropped, per_sub)
