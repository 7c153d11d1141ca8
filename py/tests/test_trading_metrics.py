"""The trading facade's state, tripped breakers, risk score and drop counts, exported through
prometheus_client (a real HTTP scrape parsed by its parser) and OpenTelemetry (the SDK's
InMemoryMetricReader)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, start_http_server

from ringbreaker.otel import instrument_trading
from ringbreaker.prometheus import TradingCollector
from ringbreaker.trading import BreakerEvent, MarketSnapshot, TradingBreakers, TradingState
from test_otel import collect, point
from test_prometheus import free_port, scrape

ET = ZoneInfo("America/New_York")
PRIOR = 5000.0
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=ET)
CONFIG: dict[str, Any] = {"breakers": {"daily_loss": {"limit": 1000.0}}, "subscriber_queue_size": 1}
STATES = ("active", "reducing", "halted")


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


def slow_subscriber(event: BreakerEvent) -> None:
    pass


def snap(minutes: float, vix: float | None = None, drop: float = 0.0, pnl: float | None = None) -> MarketSnapshot:
    return MarketSnapshot(timestamp=T0 + timedelta(minutes=minutes), vix=vix, index_level=PRIOR * (1 - drop),
                          index_prior_close=PRIOR, daily_pnl=pnl)


async def drive(tb: TradingBreakers) -> list[TradingState]:
    """ACTIVE, then REDUCING on VIX 32, then HALTED by a level-1 decline; events pile up in a
    one-slot subscriber queue (the loop never awaits), so some are dropped."""
    tb.subscribe(slow_subscriber)
    out = [(await tb.check(snap(0, vix=20))).state,
           (await tb.check(snap(1, vix=32, pnl=-900))).state,
           (await tb.check(snap(2, vix=33, drop=0.075))).state]
    return out


def test_a_scrape_exports_the_facades_state_tripped_breakers_risk_and_drops(
        serve: tuple[CollectorRegistry, str]) -> None:
    reg, url = serve

    async def main() -> None:
        async with TradingBreakers.from_config(CONFIG) as a, TradingBreakers.from_config({}) as b:
            TradingCollector(a, labels={"desk": "a"}).register(reg)
            TradingCollector(b, labels={"desk": "b"}).register(reg)

            def v(metric: str, /, **labels: str) -> float:
                return s[(metric, tuple(sorted(labels.items())))]

            p = "ringbreaker_trading"
            text, s = await asyncio.to_thread(scrape, url)
            assert [v(f"{p}_state", desk="a", state=st) for st in STATES] == [1, 0, 0]
            assert v(f"{p}_risk_score", desk="a") == 0

            assert await drive(a) == [TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED]
            text, s = await asyncio.to_thread(scrape, url)  # from the server's thread, as in production
            print(text)
            assert [v(f"{p}_state", desk="a", state=st) for st in STATES] == [0, 0, 1]
            assert [v(f"{p}_state", desk="b", state=st) for st in STATES] == [1, 0, 0]
            tripped = {k[1]: val for k, val in s.items() if k[0] == f"{p}_breaker_tripped" and ("desk", "a") in k[1]}
            assert {dict(k)["name"]: val for k, val in tripped.items()} == {
                "market_wide": 1, "vix": 1, "daily_loss": 0, "kill_switch": 0, "venue_halt": 0, "data_quality": 0}
            assert v(f"{p}_breaker_tripped", desk="a", name="vix", type="vix") == 1
            assert v(f"{p}_risk_score", desk="a") == 100.0 == a.status().risk_score
            assert v(f"{p}_checks_total", desk="a") == 3
            stats = a.statistics()
            assert v(f"{p}_events_total", desk="a", kind="trip") == stats["events_by_kind"]["trip"] == 2
            assert v(f"{p}_events_total", desk="a", kind="warning") == stats["events_by_kind"]["warning"]
            assert stats["dropped_events"] > 0
            assert v(f"{p}_dropped_events_total", desk="a") == stats["dropped_events"]
            assert v(f"{p}_subscriber_dropped_events_total", desk="a", subscriber="slow_subscriber") == \
                stats["subscribers_detail"][0]["dropped"] > 0

            # the halt ends, VIX keeps it reducing; a manual kill halts again and says so
            await a.check(snap(18, vix=33))
            _, s = await asyncio.to_thread(scrape, url)
            assert [v(f"{p}_state", desk="a", state=st) for st in STATES] == [0, 1, 0]
            assert v(f"{p}_breaker_tripped", desk="a", name="market_wide", type="market_wide") == 0
            assert v(f"{p}_risk_score", desk="a") == 81.0 == a.status().risk_score  # a 900 loss of 1000: 90 x 0.9
            await a.kill("test", by="alice")
            _, s = await asyncio.to_thread(scrape, url)
            assert v(f"{p}_breaker_tripped", desk="a", name="kill_switch", type="kill_switch") == 1
            assert v(f"{p}_state", desk="a", state="halted") == 1

    asyncio.run(main())


def test_scrapes_from_another_thread_never_disturb_the_facade(serve: tuple[CollectorRegistry, str]) -> None:
    """gauges() only reads: a scrape racing the checks never leaves a stale status behind."""
    reg, url = serve

    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            TradingCollector(tb).register(reg)
            stop = threading.Event()
            scrapes = [0]

            def scraper() -> None:
                while not stop.is_set():
                    scrape(url)
                    scrapes[0] += 1

            t = threading.Thread(target=scraper)
            t.start()
            try:
                i = 0
                while scrapes[0] < 20 or i < 400:
                    vix = 35.0 if i % 2 == 0 else 20.0
                    status = await tb.check(MarketSnapshot(timestamp=T0 + timedelta(hours=i), vix=vix))
                    assert tb.gauges().state is status.state
                    tb.reset("vix", by="test")
                    assert tb.status().state is TradingState.ACTIVE
                    i += 1
                    if i % 50 == 0:
                        await asyncio.sleep(0.001)
            finally:
                stop.set()
                t.join()

    asyncio.run(main())


def test_otel_instruments_report_the_facade() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])

    async def main() -> None:
        async with TradingBreakers.from_config(CONFIG) as tb:
            handle = instrument_trading(tb, meter_provider=provider, attributes={"desk": "a"})
            m = collect(reader)
            assert [point(m["trading.state"], desk="a", trading__state=s) for s in STATES] == [1, 0, 0]
            await drive(tb)
            m = collect(reader)
            print(json.dumps({k: [[a, v] for a, v in pts] for k, pts in sorted(m.items()) if k.startswith("trading")}))
            assert [point(m["trading.state"], desk="a", trading__state=s) for s in STATES] == [0, 0, 1]
            tripped = m["trading.breaker.tripped"]
            assert point(tripped, desk="a", circuitbreaker__name="vix", trading__breaker__type="vix") == 1
            assert point(tripped, desk="a", circuitbreaker__name="market_wide",
                         trading__breaker__type="market_wide") == 1
            assert point(tripped, desk="a", circuitbreaker__name="kill_switch",
                         trading__breaker__type="kill_switch") == 0
            assert len(tripped) == 6
            assert point(m["trading.risk_score"], desk="a") == 100.0
            assert point(m["trading.checks"], desk="a") == 3
            assert point(m["trading.events"], desk="a", trading__event__kind="trip") == 2
            stats = tb.statistics()
            assert point(m["trading.dropped_events"], desk="a") == stats["dropped_events"] > 0
            assert point(m["trading.subscriber.dropped_events"], desk="a", trading__subscriber="slow_subscriber") == \
                stats["subscribers_detail"][0]["dropped"]
            handle.close()
            assert not any(k.startswith("trading") and v for k, v in collect(reader).items())

    asyncio.run(main())


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(TypeError, match="TradingBreakers"):
        TradingCollector(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TradingBreakers"):
        instrument_trading(object())  # type: ignore[arg-type]

    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            with pytest.raises(ValueError, match="'state'"):
                TradingCollector(tb, labels={"state": "x"})
            with pytest.raises(TypeError, match="str to str"):
                TradingCollector(tb, labels={"desk": 1})  # type: ignore[dict-item]
            with pytest.raises(TypeError, match="str to str"):
                instrument_trading(tb, attributes={"desk": 1})  # type: ignore[dict-item]

    asyncio.run(main())
