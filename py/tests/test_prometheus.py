"""ringbreaker.prometheus: a real HTTP scrape of prometheus_client's server, parsed by its parser."""

from __future__ import annotations

import gc
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import ringbreaker
from ringbreaker import CircuitBreaker, ManualClock, Registry
from ringbreaker.prometheus import CircuitBreakerCollector


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[tuple[CollectorRegistry, str]]:
    reg = CollectorRegistry()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    try:
        yield reg, f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def drive(registry: Registry) -> tuple[CircuitBreaker, CircuitBreaker]:
    clock = ManualClock(0)
    orders = registry.create("orders", minimum_calls=4, failure_rate=0.5, clock=clock, open_duration=1.0)
    quotes = registry.create("quotes", clock=clock)
    for ok in (True, False, False):
        orders.record(orders.try_acquire(), success=ok)
    quotes.record(quotes.try_acquire(), success=True)
    return orders, quotes


def test_scrape_exports_resilience4j_names(serve: tuple[CollectorRegistry, str]) -> None:
    reg, url = serve
    registry = Registry()
    orders, quotes = drive(registry)
    CircuitBreakerCollector(registry).register(reg)
    late = orders.try_acquire()  # a permit from this generation, recorded after the trip
    orders.record(orders.try_acquire(), success=False)  # 3 failures of 4: trips
    orders.record(late, success=True)  # stale
    for _ in range(2):
        with pytest.raises(ringbreaker.CircuitOpenError):
            orders.try_acquire()
    text, s = scrape(url)
    print(text)

    def v(metric: str, /, **labels: str) -> float:
        return s[(metric, tuple(sorted(labels.items())))]

    p = "resilience4j_circuitbreaker"
    assert v(f"{p}_state", name="orders", state="open") == 1
    assert (
        sum(
            v(f"{p}_state", name="orders", state=st)
            for st in ("closed", "open", "half_open", "forced_open", "disabled", "metrics_only")
        )
        == 1
    )
    assert v(f"{p}_state", name="quotes", state="closed") == 1
    # OPEN keeps the window it tripped on: 1 success and 3 failures
    assert v(f"{p}_buffered_calls", name="orders", kind="successful") == 1
    assert v(f"{p}_buffered_calls", name="orders", kind="failed") == 3
    assert v(f"{p}_failure_rate", name="orders") == 75.0
    assert v(f"{p}_buffered_calls", name="quotes", kind="successful") == 1
    assert v(f"{p}_buffered_calls", name="quotes", kind="failed") == 0
    assert v(f"{p}_failure_rate", name="quotes") == 0
    assert v(f"{p}_slow_calls", name="quotes") == 0
    assert v(f"{p}_slow_call_rate", name="quotes") == 0
    assert v(f"{p}_not_permitted_calls_total", name="orders", kind="not_permitted") == 2
    assert v(f"{p}_stale_calls_total", name="orders") == 1
    assert v(f"{p}_generation", name="orders") == v(f"{p}_generation", name="quotes") + 1
    assert v(f"{p}_transitions_total", name="orders", from_state="closed", to_state="open", reason="failure_rate") == 1
    assert not any(k[0].startswith("ringbreaker_") for k in s)


def test_window_counts_and_rates_in_percent(serve: tuple[CollectorRegistry, str]) -> None:
    reg, url = serve
    registry = Registry()
    b = registry.create("venue", minimum_calls=100)
    for ok in (True, True, True, False):
        b.record(b.try_acquire(), success=ok)
    CircuitBreakerCollector(registry).register(reg)
    _, s = scrape(url)
    assert s[("resilience4j_circuitbreaker_buffered_calls", (("kind", "successful"), ("name", "venue")))] == 3
    assert s[("resilience4j_circuitbreaker_buffered_calls", (("kind", "failed"), ("name", "venue")))] == 1
    assert s[("resilience4j_circuitbreaker_failure_rate", (("name", "venue"),))] == 25.0


def test_ringbreaker_prefix_flag_and_new_breakers_appear(serve: tuple[CollectorRegistry, str]) -> None:
    reg, url = serve
    registry = Registry()
    a = registry.create("a")
    CircuitBreakerCollector(registry, ringbreaker_names=True).register(reg)
    b = registry.create("b")
    _, s1 = scrape(url)  # the scrape subscribes to b
    b.force_open("maintenance")
    a.trip()
    _, s2 = scrape(url)
    assert all(name.startswith("ringbreaker_") for name, _ in s2)
    assert s2[("ringbreaker_circuitbreaker_state", (("name", "b"), ("state", "forced_open")))] == 1
    assert (
        s2[
            (
                "ringbreaker_circuitbreaker_transitions_total",
                (("from_state", "closed"), ("name", "b"), ("reason", "force_open"), ("to_state", "forced_open")),
            )
        ]
        == 1
    )
    assert (
        s2[
            (
                "ringbreaker_circuitbreaker_transitions_total",
                (("from_state", "closed"), ("name", "a"), ("reason", "trip"), ("to_state", "open")),
            )
        ]
        == 1
    )
    registry.remove("a")
    registry.remove("b")
    del a, b
    gc.collect()
    _, s3 = scrape(url)  # removed breakers leave the registry and the scrape
    assert not any(k[0] == "ringbreaker_circuitbreaker_state" for k in s3)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="ringbreaker_names must be a bool"):
        CircuitBreakerCollector(Registry(), ringbreaker_names="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="breakers must hold CircuitBreaker values"):
        CircuitBreakerCollector(["orders"])  # type: ignore[list-item]


def test_close_stops_counting_transitions() -> None:
    b = CircuitBreaker("x")
    c = CircuitBreakerCollector([b])
    b.trip()
    c.close()
    b.reset()
    t = [m for m in c.collect() if m.name.endswith("_transitions")][0]
    assert [(s.labels["to_state"], s.value) for s in t.samples] == [("open", 1)]


def test_calls_seconds_histogram_by_kind(serve: tuple[CollectorRegistry, str]) -> None:
    reg, url = serve
    registry = Registry()
    clock = ManualClock(0)
    cb = registry.create("timed", time_calls=True, minimum_calls=1000, clock=clock)
    CircuitBreakerCollector(registry).register(reg)

    def work(seconds: float, fail: bool = False) -> None:
        clock.advance(seconds)
        if fail:
            raise ConnectionError("down")

    guarded = cb(work)
    guarded(0.003)
    guarded(0.003)
    guarded(0.2)
    with pytest.raises(ConnectionError):
        guarded(0.04, True)
    untimed = registry.create("untimed", clock=clock)  # no timing: no samples, no series
    untimed.record(untimed.try_acquire(), success=True)
    text, s = scrape(url)
    p = "resilience4j_circuitbreaker_calls_seconds"

    def v(metric: str, /, **labels: str) -> float:
        return s[(metric, tuple(sorted(labels.items())))]

    assert v(f"{p}_count", name="timed", kind="successful") == 3
    assert v(f"{p}_sum", name="timed", kind="successful") == pytest.approx(0.206)
    assert v(f"{p}_bucket", name="timed", kind="successful", le="0.0025") == 0
    assert v(f"{p}_bucket", name="timed", kind="successful", le="0.005") == 2
    assert v(f"{p}_bucket", name="timed", kind="successful", le="0.25") == 3
    assert v(f"{p}_bucket", name="timed", kind="successful", le="+Inf") == 3
    assert v(f"{p}_count", name="timed", kind="failed") == 1
    assert v(f"{p}_bucket", name="timed", kind="failed", le="0.025") == 0
    assert v(f"{p}_bucket", name="timed", kind="failed", le="0.05") == 1
    assert not any(k[0].startswith(p) and ("name", "untimed") in k[1] for k in s)
