"""ringbreaker.otel, read through the OpenTelemetry SDK's InMemoryMetricReader."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import ringbreaker
from ringbreaker import CircuitBreaker, Registry
from ringbreaker.otel import instrument


def collect(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], float]]]:
    data = reader.get_metrics_data()
    out: dict[str, list[tuple[dict[str, Any], float]]] = {}
    if data is None:  # nothing at all to report
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "ringbreaker"
            for metric in sm.metrics:
                out[metric.name] = [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]  # type: ignore[union-attr]
    return out


def point(points: list[tuple[dict[str, Any], float]], **attrs: str) -> float:
    want = {k.replace("__", "."): v for k, v in attrs.items()}
    found = [v for a, v in points if a == want]
    assert len(found) == 1, (want, points)
    return found[0]


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


def test_observable_instruments_report_every_breaker(reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    registry = Registry()
    orders = registry.create("orders", minimum_calls=4)
    handle = instrument(registry, meter_provider=provider)
    quotes = registry.create("quotes")  # registered later: picked up at collection
    for ok in (True, False, False, False):
        orders.record(orders.try_acquire(), success=ok)
    for _ in range(3):
        with pytest.raises(ringbreaker.CircuitOpenError):
            orders.try_acquire()
    quotes.record(quotes.try_acquire(), success=True)
    m = collect(reader)
    print(json.dumps({k: [[a, v] for a, v in pts] for k, pts in sorted(m.items())}, indent=None))

    st = m["circuitbreaker.state"]
    assert point(st, circuitbreaker__name="orders", circuitbreaker__state="open") == 1
    assert point(st, circuitbreaker__name="orders", circuitbreaker__state="closed") == 0
    assert point(st, circuitbreaker__name="quotes", circuitbreaker__state="closed") == 1
    assert len([a for a, v in st if a["circuitbreaker.name"] == "orders"]) == 6
    assert point(m["circuitbreaker.buffered_calls"], circuitbreaker__name="orders", kind="failed") == 3
    assert point(m["circuitbreaker.buffered_calls"], circuitbreaker__name="orders", kind="successful") == 1
    assert point(m["circuitbreaker.failure_rate"], circuitbreaker__name="orders") == 0.75
    assert point(m["circuitbreaker.slow_calls"], circuitbreaker__name="orders") == 0
    assert point(m["circuitbreaker.slow_call_rate"], circuitbreaker__name="quotes") == 0
    assert point(m["circuitbreaker.not_permitted_calls"], circuitbreaker__name="orders") == 3
    assert point(m["circuitbreaker.stale_calls"], circuitbreaker__name="orders") == 0
    assert (
        point(
            m["circuitbreaker.transitions"],
            circuitbreaker__name="orders",
            circuitbreaker__state="open",
            circuitbreaker__from_state="closed",
            circuitbreaker__reason="failure_rate",
        )
        == 1
    )

    quotes.force_open()
    m2 = collect(reader)
    assert point(m2["circuitbreaker.state"], circuitbreaker__name="quotes", circuitbreaker__state="forced_open") == 1
    assert (
        point(
            m2["circuitbreaker.transitions"],
            circuitbreaker__name="quotes",
            circuitbreaker__state="forced_open",
            circuitbreaker__from_state="closed",
            circuitbreaker__reason="force_open",
        )
        == 1
    )

    handle.close()
    orders.reset()
    m3 = collect(reader)
    assert "circuitbreaker.state" not in m3 or m3["circuitbreaker.state"] == []
    provider.shutdown()


def test_fixed_breakers_are_held_weakly(reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    b = CircuitBreaker("gone")
    instrument([b], meter_provider=provider)
    assert (
        point(collect(reader)["circuitbreaker.state"], circuitbreaker__name="gone", circuitbreaker__state="closed") == 1
    )
    del b
    gc.collect()
    assert collect(reader).get("circuitbreaker.state", []) == []
    provider.shutdown()


def test_bad_breakers_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="breakers must hold CircuitBreaker values"):
        instrument(["orders"])  # type: ignore[list-item]
