"""One test per problem of the facade ringbreaker.trading replaces (ISSUE-2800 ... 2824).
Each shows the problem cannot happen here; py/python/ringbreaker/trading/README.md maps each
to the design choice that rules it out."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import tracemalloc
import types
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringbreaker.trading import (
    BreakerEvent,
    BreakerType,
    Effect,
    EventKind,
    MarketSnapshot,
    TradingBreakers,
    TradingState,
)

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=ET)
ALL_TYPES = {t.value: {} for t in BreakerType}


def ours(tasks: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    return [t for t in tasks if t.get_name().startswith("ringbreaker")]


def vix_at(seconds: float, vix: float) -> MarketSnapshot:
    return MarketSnapshot(timestamp=T0 + timedelta(seconds=seconds), vix=vix)


# -- memory -----------------------------------------------------------------------------------

def test_issue_2800_subscribers_are_bounded_and_removed_on_close() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"max_subscribers": 8}) as tb:
            for _ in range(10_000):
                tb.subscribe(lambda e: None).close()
            assert tb.statistics()["subscribers"] == 0
            subs = [tb.subscribe(lambda e: None) for _ in range(8)]
            with pytest.raises(RuntimeError, match="max_subscribers"):
                tb.subscribe(lambda e: None)
            subs[0].close()
            tb.subscribe(lambda e: None)
        assert tb.statistics()["subscribers"] == 0

    asyncio.run(main())


def test_issue_2801_tripped_set_is_derived_and_shrinks_on_reset() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            for _ in range(10_000):
                assert tb.trip("kill_switch").tripped == ("kill_switch",)
                assert tb.reset("kill_switch").tripped == ()
            assert tb.statistics()["open_breakers"] == 0

    asyncio.run(main())


def test_issue_2802_no_cooldown_task_leak() -> None:
    async def main() -> None:
        before = set(asyncio.all_tasks())
        cfg = {"breakers": {"vix": {"clear_after": 60.0}, "market_wide": {}}}
        async with TradingBreakers.from_config(cfg) as tb:
            for i in range(100):
                await tb.check(vix_at(i * 100, 45))           # trips
                await tb.check(vix_at(i * 100 + 1, 10))        # cooling down...
                await tb.check(vix_at(i * 100 + 62, 10))       # ...cleared lazily at check time
            assert tb.status().state is TradingState.ACTIVE
            assert set(asyncio.all_tasks()) == before          # no cooldown task, ever

    asyncio.run(main())


def test_issue_2803_events_are_fixed_size_with_no_metadata_dict() -> None:
    ev = BreakerEvent(1, EventKind.TRIP, "vix", BreakerType.VIX, Effect.HALT, 0, "x")
    assert not hasattr(ev, "__dict__")
    assert {f.name for f in dataclasses.fields(ev)} == {"seq", "kind", "breaker", "breaker_type", "effect", "at_ns",
                                                       "reason", "value"}


# -- events -----------------------------------------------------------------------------------

def test_issue_2804_slow_and_raising_subscribers_block_nobody() -> None:
    async def main() -> None:
        got: list[int] = []
        slow_started = asyncio.Event()

        async def slow(e: BreakerEvent) -> None:
            slow_started.set()
            await asyncio.sleep(5)

        def raising(e: BreakerEvent) -> None:
            raise RuntimeError("subscriber bug")

        async def fast(e: BreakerEvent) -> None:
            got.append(e.seq)

        before = set(asyncio.all_tasks())
        tb = TradingBreakers.from_config({"subscriber_timeout": 10.0})
        for fn in (slow, raising, fast):
            tb.subscribe(fn)
        loop = asyncio.get_running_loop()
        start = loop.time()
        status = tb.trip("kill_switch", "test")
        assert status.state is TradingState.HALTED      # visible at once, whatever subscribers do
        assert tb.status().tripped == ("kill_switch",)
        await asyncio.wait_for(slow_started.wait(), 1)
        for _ in range(50):                              # the fast subscriber is not held up
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == [1]
        assert loop.time() - start < 2.0
        await asyncio.sleep(0.05)
        assert tb.statistics()["subscriber_errors"] == 1
        await tb.close()
        assert ours(set(asyncio.all_tasks()) - before) == []

    asyncio.run(main())


def test_issue_2805_one_clock_read_per_event() -> None:
    reads = 0

    def clock() -> int:
        nonlocal reads
        reads += 1
        return 10**18 + reads

    async def main() -> None:
        async with TradingBreakers.from_config({"breakers": ALL_TYPES}, clock=clock) as tb:
            await tb.check(MarketSnapshot(timestamp=T0, vix=45, daily_pnl=-10**9, index_level=1, index_prior_close=2))
            assert reads == 0                            # check() uses the snapshot's time only
            events = len(tb.history())
            assert events >= 3
            tb.trip("kill_switch")
            assert reads == 1                            # one read per call, however many events

    asyncio.run(main())


def test_issue_2806_events_are_immutable_and_as_dict_is_cheap() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            tb.trip("kill_switch", "x")
            ev = tb.history()[0]
            d = ev.as_dict()
            d["reason"] = "changed"
            assert ev.reason == "manual trip by operator: x"
            with pytest.raises(dataclasses.FrozenInstanceError):
                ev.reason = "y"  # type: ignore[misc]

    asyncio.run(main())


# -- registry and concurrency -------------------------------------------------------------------

def test_issue_2807_no_registry_lock_check_never_suspends() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"breakers": ALL_TYPES}) as tb:
            coro = tb.check(MarketSnapshot(timestamp=T0, vix=35))
            with pytest.raises(StopIteration) as done:   # runs to completion in one step
                coro.send(None)
            assert done.value.value.state is TradingState.REDUCING

    asyncio.run(main())


def test_issue_2808_registry_is_immutable_so_reads_need_no_lock() -> None:
    tb = TradingBreakers.from_config({})
    assert isinstance(tb.breakers, types.MappingProxyType)
    with pytest.raises(TypeError):
        tb.breakers["x"] = tb.breaker("vix")  # type: ignore[index]


def test_issue_2809_all_breakers_evaluated_in_one_pass() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"breakers": ALL_TYPES}) as tb:
            status = await tb.check(MarketSnapshot(timestamp=T0, vix=45, daily_pnl=-10**9, equity=1.0,
                                                   gross_exposure=10**9, index_level=0.7, index_prior_close=1.0,
                                                   halted=frozenset({"A"})))
            assert set(status.tripped) == {"vix", "daily_loss", "exposure", "market_wide", "venue_halt"}
            assert tb.statistics()["checks"] == 1

    asyncio.run(main())


# -- async patterns -----------------------------------------------------------------------------

def test_issue_2810_no_monitoring_loop() -> None:
    async def main() -> None:
        before = set(asyncio.all_tasks())
        async with TradingBreakers.from_config({"breakers": ALL_TYPES}) as tb:
            await asyncio.sleep(0.05)
            assert set(asyncio.all_tasks()) == before
            await tb.check(MarketSnapshot(timestamp=T0))
            assert set(asyncio.all_tasks()) == before

    asyncio.run(main())


def test_issue_2811_async_context_manager_closes_even_on_error() -> None:
    async def main() -> None:
        before = set(asyncio.all_tasks())
        with pytest.raises(ZeroDivisionError):
            async with TradingBreakers.from_config({}) as tb:
                tb.subscribe(lambda e: None)
                tb.trip("kill_switch")
                await asyncio.sleep(0)
                1 / 0
        assert tb.closed
        assert ours(set(asyncio.all_tasks()) - before) == []

    asyncio.run(main())


def test_issue_2812_close_cancels_and_awaits_workers_mid_delivery() -> None:
    async def main() -> None:
        started = asyncio.Event()
        cancelled = asyncio.Event()

        async def stuck(e: BreakerEvent) -> None:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        tb = TradingBreakers.from_config({"subscriber_timeout": 120.0})
        tb.subscribe(stuck)
        tb.trip("kill_switch")
        await started.wait()
        await tb.close()
        assert cancelled.is_set()                       # the worker saw its cancellation...
        assert ours(asyncio.all_tasks()) == []          # ...and was awaited, not abandoned
        await tb.close()                                # idempotent

    asyncio.run(main())


# -- external data (see also test_trading_http.py) ----------------------------------------------

def test_issue_2813_source_uses_one_pooled_client() -> None:
    from ringbreaker.trading import HttpMarketDataSource

    src = HttpMarketDataSource("http://127.0.0.1:9", max_connections=2)
    client = src._client
    limits = client._transport._pool._max_connections  # type: ignore[attr-defined]
    assert limits == 2
    asyncio.run(src.aclose())
    assert src.is_closed


def test_issue_2814_source_caches_with_ttl() -> None:
    from ringbreaker.trading import HttpMarketDataSource

    now = [0.0]
    src = HttpMarketDataSource("http://127.0.0.1:9", ttl=1.0, clock=lambda: now[0])
    src._cache["/vix"] = (1.0, {"value": 20})
    assert asyncio.run(src.get_json("/vix")) == {"value": 20}
    assert (src.cache_hits, src.requests) == (1, 0)
    asyncio.run(src.aclose())


# -- algorithmic --------------------------------------------------------------------------------

def test_issue_2815_status_message_built_once_per_change() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            a = await tb.check(MarketSnapshot(timestamp=T0, vix=10))
            b = await tb.check(MarketSnapshot(timestamp=T0 + timedelta(seconds=1), vix=10))
            assert a is b and a.message is b.message     # unchanged: the same object
            c = tb.trip("kill_switch", "x")
            assert c is not b and c.message == "Trading halted: kill_switch [by operator: x]"

    asyncio.run(main())


def test_issue_2816_breaker_lookup_by_name_and_type() -> None:
    tb = TradingBreakers.from_config({"breakers": ALL_TYPES})
    assert tb.breaker("vix").type is BreakerType.VIX
    assert [b.name for b in tb.breakers_of(BreakerType.KILL_SWITCH)] == ["kill_switch"]
    with pytest.raises(KeyError, match="no breaker named 'nope'"):
        tb.breaker("nope")


def test_issue_2817_risk_score_is_the_incremental_max() -> None:
    import random

    async def main() -> None:
        rng = random.Random(7)
        async with TradingBreakers.from_config({"breakers": ALL_TYPES}) as tb:
            for i in range(300):
                s = MarketSnapshot(timestamp=T0 + timedelta(seconds=i), vix=rng.uniform(5, 45),
                                   daily_pnl=-rng.uniform(0, 120_000), gross_exposure=rng.uniform(0, 2e7))
                status = await tb.check(s)
                if rng.random() < 0.1:
                    tb.reset("daily_loss")
                    status = tb.status()
                brute = max(100.0 if b.is_open and b.effect is Effect.HALT else 60.0 if b.is_open
                            else min(b.risk, 90.0) for b in tb.breakers.values())
                assert status.risk_score == round(brute, 1)
                assert 0 <= status.risk_score <= 100

    asyncio.run(main())


# -- lifecycle ----------------------------------------------------------------------------------

def test_issue_2818_close_releases_everything() -> None:
    async def main() -> None:
        from ringbreaker.trading import HttpMarketDataSource

        before = set(asyncio.all_tasks())
        src = HttpMarketDataSource("http://127.0.0.1:9")
        tb = TradingBreakers.from_config({}, source=src)
        tb.subscribe(lambda e: None)
        tb.trip("kill_switch")
        await asyncio.sleep(0.05)
        await tb.close()
        assert src.is_closed
        assert ours(set(asyncio.all_tasks()) - before) == []
        assert tb.statistics()["subscribers"] == 0
        with pytest.raises(RuntimeError, match="closed"):
            await tb.check(MarketSnapshot(timestamp=T0))
        with pytest.raises(RuntimeError, match="closed"):
            tb.subscribe(lambda e: None)

    asyncio.run(main())


def test_issue_2819_shutdown_leaves_no_worker_thread_pool() -> None:
    async def main() -> None:
        tb = TradingBreakers.from_config({})
        seen = asyncio.Event()
        loop = asyncio.get_running_loop()
        sub = tb.subscribe(lambda e: loop.call_soon_threadsafe(seen.set))  # a sync subscriber: its own thread
        tb.trip("kill_switch")
        await asyncio.wait_for(seen.wait(), 2)
        executor = sub.executor
        assert executor is not None
        assert any(t.name.startswith("ringbreaker-subscriber") for t in threading.enumerate())
        await tb.close()
        assert executor._shutdown  # type: ignore[attr-defined]
        for _ in range(100):
            if not any(t.name.startswith("ringbreaker-subscriber") for t in threading.enumerate()):
                break
            await asyncio.sleep(0.01)
        assert not any(t.name.startswith("ringbreaker-subscriber") for t in threading.enumerate())

    asyncio.run(main())


def test_issue_2820_config_validated_once_into_frozen_values() -> None:
    tb = TradingBreakers.from_config({"breakers": {"vix": {"halt_at": 45}}})
    cfg = next(s.config for s in tb.config.breakers if s.name == "vix")
    assert cfg.halt_at == 45.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.halt_at = 50  # type: ignore[misc]
    assert tb.config is tb.config


# -- scalability --------------------------------------------------------------------------------

def test_issue_2821_no_monitoring_task_per_breaker_or_otherwise() -> None:
    async def main() -> None:
        before = set(asyncio.all_tasks())
        many = {f"k{i}": {"type": "kill_switch"} for i in range(200)}
        async with TradingBreakers.from_config({"breakers": many}) as tb:
            await tb.check(MarketSnapshot(timestamp=T0))
            assert len(tb.breakers) == 200 + 5  # added to the standard set
            assert set(asyncio.all_tasks()) == before

    asyncio.run(main())


def test_issue_2822_statistics_are_counters() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            for i in range(1000):
                tb.trip("kill_switch")
                tb.reset("kill_switch")
            s = tb.statistics()
            assert s["events"] == 2000 and s["events_by_kind"] == {"trip": 1000, "reset": 1000}
            assert s["history"] == 2000 and s["open_breakers"] == 0

    asyncio.run(main())


def test_issue_2823_event_history_is_bounded() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"history_size": 100}) as tb:
            for _ in range(1000):
                tb.trip("kill_switch")
                tb.reset("kill_switch")
            h = tb.history()
            assert len(h) == 100 and h[-1].seq == 2000 and h[0].seq == 1901

    asyncio.run(main())


def test_issue_2824_configs_are_computed_once() -> None:
    tb = TradingBreakers.from_config({})
    assert tb.config is tb.config
    assert tb.config.breakers is tb.config.breakers
    assert tb.breakers is tb.breakers


# -- must-show: a million events keep memory bounded --------------------------------------------

def test_a_million_events_keep_memory_bounded() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"history_size": 1000, "subscriber_queue_size": 100}) as tb:
            tb.subscribe(lambda e: None)  # never drained: no loop iteration happens below

            def burst(n: int) -> None:
                for _ in range(n // 2):
                    tb.trip("kill_switch")
                    tb.reset("kill_switch")

            # Warm up under tracing, so the history and queue hold traced events before the
            # baseline: from then on every new event must replace one.
            tracemalloc.start()
            burst(20_000)
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            burst(1_000_000)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            assert after - before < 64 * 1024, f"grew by {after - before} bytes"
            s = tb.statistics()
            assert s["history"] == 1000 and s["events"] == 1_020_000
            assert s["dropped_events"] > 1_000_000 - 100    # the bounded queue dropped, and counted it

    asyncio.run(main())
