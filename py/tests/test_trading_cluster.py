"""The trading facade's kill switch and market-wide halt shared through ringbreaker.cluster, two
facades in one process against a real redis-server (started on a free port by these tests)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from redis_fixture import WAIT, RedisServer
from redis_fixture import async_wait_for as until

from ringbreaker.cluster import AsyncCluster
from ringbreaker.trading import (
    ConfigError,
    EventKind,
    MarketSnapshot,
    TradingBreakers,
    TradingState,
    manual_clock_at,
)
from ringbreaker.trading._cluster import attribution

ET = ZoneInfo("America/New_York")
PRIOR = 5000.0


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 3, 2, hh, mm, ss, tzinfo=ET)


def drop(t: datetime, fraction: float) -> MarketSnapshot:
    return MarketSnapshot(timestamp=t, index_level=PRIOR * (1 - fraction), index_prior_close=PRIOR)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as s:  # raises (fails the tests) when no server can be started
        yield s


@pytest.fixture
def ns() -> str:
    return f"rbtrading-{uuid.uuid4().hex[:8]}"


def config(server: RedisServer | str, ns: str, origin: str, **cluster: Any) -> dict[str, Any]:
    url = server if isinstance(server, str) else server.url
    return {"cluster": {"url": url, "namespace": ns, "origin": origin, **cluster}}


class CancelAll:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return "cancelled 3 orders"


async def connected(*tbs: TradingBreakers) -> None:
    await until(lambda: all(tb.statistics()["cluster"]["connected"] for tb in tbs), "cluster links up")


def test_a_kill_on_one_facade_halts_the_other_with_who_and_why_and_a_reset_releases_both(
        server: RedisServer, ns: str) -> None:
    async def main() -> None:
        cancel_b = CancelAll()
        async with TradingBreakers.from_config(config(server, ns, "desk-a"), manual_clock_at(at(10, 0))) as a, \
                TradingBreakers.from_config(config(server, ns, "desk-b"), manual_clock_at(at(10, 0)),
                                            cancel_all=cancel_b) as b:
            await connected(a, b)
            assert b.status().state is TradingState.ACTIVE
            record = await a.kill("runaway algo", by="alice")
            assert record.by == "alice" and a.status().state is TradingState.HALTED

            await until(lambda: b.status().state is TradingState.HALTED, "the kill to reach desk-b")
            m = b.breaker("kill_switch").manual
            assert m is not None and (m.by, m.reason) == ("alice via cluster desk-a", "runaway algo")
            assert "kill_switch [by alice via cluster desk-a: runaway algo]" in b.status().message
            await until(lambda: b.statistics()["kill"] is not None, "desk-b's own cancel-all")
            kill = b.statistics()["kill"]
            assert (kill["by"], kill["cancel_all"], kill["result"]) == ("alice via cluster desk-a", "ok",
                                                                    "'cancelled 3 orders'")
            assert cancel_b.calls == 1
            await b.drain()
            trips = [e for e in b.history() if e.kind is EventKind.TRIP and e.breaker == "kill_switch"]
            assert [e.reason for e in trips] == ["manual trip by alice via cluster desk-a: runaway algo"]

            # a second kill of a latched switch changes nothing anywhere
            await a.kill("again", by="carol")
            await asyncio.sleep(0.2)
            assert b.breaker("kill_switch").manual == m and cancel_b.calls == 1

            # only a reset undoes it: on the facade that set it, everywhere
            a.reset("kill_switch", "all clear", by="bob")
            assert a.status().state is TradingState.ACTIVE
            await until(lambda: b.status().state is TradingState.ACTIVE, "the release to reach desk-b")
            resets = [e.reason for e in b.history() if e.kind is EventKind.RESET and e.breaker == "kill_switch"]
            assert resets == ["manual reset by bob via cluster desk-a: all clear"]
            assert b.statistics()["kill"] is None
            assert b.statistics()["cluster"]["shared"] == ["kill_switch", "market_wide"]

            # on another facade, only there: the origin's kill holds until the origin resets it
            await a.kill("runaway again", by="alice")
            await until(lambda: b.status().state is TradingState.HALTED, "the second kill")
            b.reset("kill_switch", "desk-b checked its own orders", by="erin")
            assert b.status().state is TradingState.ACTIVE
            await asyncio.sleep(0.3)
            assert a.status().state is TradingState.HALTED
            assert cancel_b.calls == 2

    asyncio.run(main())


def test_a_market_wide_halt_reaches_the_others_and_ends_with_the_origins(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        async with TradingBreakers.from_config(config(server, ns, "desk-a"), manual_clock_at(at(10, 0))) as a, \
                TradingBreakers.from_config(config(server, ns, "desk-b"), manual_clock_at(at(10, 0))) as b, \
                TradingBreakers.from_config(config(server, ns, "desk-c", follow="kill-switch-only"),
                                            manual_clock_at(at(10, 0))) as c:
            await connected(a, b, c)
            status = await a.check(drop(at(10, 0, 5), 0.075))  # level 1: a 15-minute halt on desk-a's data
            assert status.state is TradingState.HALTED and status.tripped == ("market_wide",)
            await until(lambda: b.status().state is TradingState.HALTED, "the halt to reach desk-b")
            assert b.status().tripped == ("market_wide",)
            m = b.breaker("market_wide").manual
            assert m is not None and m.by == "cluster desk-a" and m.reason == "market-wide halt set on desk-a"
            # desk-b's own checks (a feed that lags) do not lift a halt that came from the cluster
            assert (await b.check(drop(at(10, 1), 0.01))).state is TradingState.HALTED
            # "kill-switch-only" follows kill switches only
            await asyncio.sleep(0.3)
            assert c.status().state is TradingState.ACTIVE

            # the halt ends on desk-a's rule, and with it on desk-b
            assert (await a.check(drop(at(10, 15, 6), 0.06))).state is TradingState.ACTIVE
            await until(lambda: b.status().state is TradingState.ACTIVE, "the end of the halt to reach desk-b")
            assert b.breaker("market_wide").manual is None

            # desk-b's own halt is its own: desk-a ending a shared halt does not lift it
            assert (await b.check(drop(at(10, 20), 0.14))).state is TradingState.HALTED  # level 2 on desk-b
            await until(lambda: a.status().state is TradingState.HALTED, "desk-b's halt to reach desk-a")
            a.reset("market_wide", "checked with the exchange", by="ops")
            await until(lambda: b.breaker("market_wide").manual is None and
                        a.status().state is TradingState.ACTIVE, "desk-a's reset")
            await asyncio.sleep(0.3)
            assert b.status().state is TradingState.HALTED  # desk-b's rule still holds its halt
            await c.kill("fat finger", by="dave")
            await until(lambda: a.breaker("kill_switch").manual is not None, "desk-c's kill")
            assert a.breaker("kill_switch").manual.by == "dave via cluster desk-c"  # type: ignore[union-attr]

    asyncio.run(main())


def test_a_facade_that_starts_after_a_kill_finds_it_latched(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        async with TradingBreakers.from_config(config(server, ns, "desk-a")) as a:
            await connected(a)
            await a.kill("end of day", by="alice")
            await until(lambda: a.statistics()["cluster"]["pending"] == 0, "the kill to be published")
            cancel = CancelAll()
            async with TradingBreakers.from_config(config(server, ns, "desk-late"), cancel_all=cancel) as late:
                await until(lambda: late.status().state is TradingState.HALTED, "the late facade to find the kill")
                m = late.breaker("kill_switch").manual
                # The kill's who and why are kept in the cluster's record, so a late facade
                # gets them too, not only the origin.
                assert m is not None and m.by == "alice via cluster desk-a"
                assert m.reason == "end of day"
                await until(lambda: cancel.calls == 1, "the late facade's cancel-all")

    asyncio.run(main())


def test_redis_down_keeps_the_desk_working_locally_and_the_kill_arrives_when_it_is_back(
        caplog: pytest.LogCaptureFixture, ns: str) -> None:
    caplog.set_level(logging.WARNING, logger="ringbreaker.cluster")

    async def main() -> None:
        srv = RedisServer()
        srv.start()
        try:
            async with AsyncCluster(srv.url, namespace=ns, origin="desk-a", backoff=(0.05, 0.2)) as ca, \
                    AsyncCluster(srv.url, namespace=ns, origin="desk-b", backoff=(0.05, 0.2)) as cb:
                cancel_a = CancelAll()
                a = TradingBreakers.from_config({}, cluster=ca, cancel_all=cancel_a)
                b = TradingBreakers.from_config({}, cluster=cb)
                await until(lambda: ca.stats().connected and cb.stats().connected, "links up")
                srv.stop()
                await until(lambda: ca.stats().outages == 1, "the outage")
                started = time.monotonic()
                record = await a.kill("venue gone", by="alice")  # local, now, whatever Redis does
                assert record.cancel_all == "ok" and cancel_a.calls == 1
                assert a.status().state is TradingState.HALTED
                assert time.monotonic() - started < WAIT  # a deadline, never a speed claim
                assert b.status().state is TradingState.ACTIVE
                srv.start()  # an empty server: the kill set during the outage is re-asserted
                await until(lambda: b.status().state is TradingState.HALTED, "the kill after the outage")
                # from the stream (who and why) or from the kill hash re-read on reconnect (the origin
                # only), whichever desk-b's reader meets first
                m = b.breaker("kill_switch").manual
                assert m is not None and m.by in ("alice via cluster desk-a", "cluster desk-a"), m
                await a.close()
                await b.close()
                # the caller's clusters stay open, with the facades' stand-ins detached
                assert not ca.closed and not cb.closed
                tb_c = TradingBreakers.from_config({}, cluster=ca)  # the names are free again
                await tb_c.close()
            r = redis.Redis.from_url(srv.url)
            assert r.hexists(f"{ns}:kill", "trading.kill_switch")
            r.close()
        finally:
            srv.stop()

    asyncio.run(main())
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 2  # once per link


def test_close_leaves_nothing_running(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        before = asyncio.all_tasks()
        tb = TradingBreakers.from_config(config(server, ns, "desk-a"))
        cluster = tb._link.cluster  # type: ignore[union-attr]
        assert len(asyncio.all_tasks() - before) == 2  # the cluster's publisher and reader
        await connected(tb)
        other = TradingBreakers.from_config(config(server, ns, "desk-b"),
                                            cancel_all=lambda: asyncio.sleep(0.3))
        await connected(other)
        await tb.kill("stop", by="alice")
        await until(lambda: other.status().state is TradingState.HALTED, "the kill")
        await other.close()  # while its cancel-all is still running: close awaits it
        assert other.statistics()["kill"]["cancel_all"] == "ok"
        await tb.close()
        await tb.close()  # idempotent
        assert cluster.closed
        assert asyncio.all_tasks() - before == set()
        assert tb.statistics()["cluster"] is None
        with pytest.raises(RuntimeError, match="closed"):
            await tb.kill("after close", by="alice")

    asyncio.run(main())


def test_cluster_configuration_errors_name_the_key(server: RedisServer) -> None:
    for table, path in [({"namespace": "x"}, "cluster.url"),
                        ({"url": "http://x"}, "cluster.url"),
                        ({"url": "redis://x", "follow": "most"}, "cluster.follow"),
                        ({"url": "redis://x", "origin": "a: b"}, "cluster.origin"),
                        ({"url": "redis://x", "port": 1}, "cluster.port"),
                        ({"url": 6379}, "cluster.url")]:
        with pytest.raises(ConfigError) as e:
            TradingBreakers.from_config({"cluster": table})
        assert e.value.path == path, (table, e.value)
    with pytest.raises(ConfigError, match="^cluster: expected a table"):
        TradingBreakers.from_config({"cluster": "redis://x"})
    with pytest.raises(RuntimeError, match="running event loop"):
        TradingBreakers.from_config({"cluster": {"url": server.url}})

    async def main() -> None:
        async with AsyncCluster(server.url) as c:
            with pytest.raises(ValueError, match=r"\[cluster\] table"):
                TradingBreakers.from_config({"cluster": {"url": server.url}}, cluster=c)
            with pytest.raises(TypeError, match="AsyncCluster"):
                TradingBreakers.from_config({}, cluster=object())  # type: ignore[arg-type]
            async with TradingBreakers.from_config({}, cluster=c) as tb:
                with pytest.raises(RuntimeError, match="without a cluster"):
                    await tb.replay([])
                # one facade per cluster: the stand-in names are taken
                with pytest.raises(ValueError, match="already attached"):
                    TradingBreakers.from_config({}, cluster=c)

    asyncio.run(main())


def test_notes_of_every_cluster_operation_give_who_and_why() -> None:
    """The notes ringbreaker.cluster writes, as the facade reads them (the end-to-end tests above
    pin the same strings through a real Redis)."""
    assert attribution('cluster kill switch from h:1:ab: {"by":"al: ice","reason":"r: x"}', True, True) == \
        ("al: ice via cluster h:1:ab", "r: x")
    assert attribution("cluster kill switch from h:1:ab: plain text", True, True) == ("cluster h:1:ab", "plain text")
    assert attribution("cluster kill switch from h:1:ab (reconciled)", True, True)[0] == "cluster h:1:ab"
    assert attribution("cluster kill switch (h:1:ab)", True, True)[0] == "cluster h:1:ab"
    assert attribution('cluster kill switch released by d: {"by":"bob","reason":""}', False, True) == \
        ("bob via cluster d", "")
    assert attribution("cluster desk-a: force_open", True, False) == ("cluster desk-a", "market-wide halt set on desk-a")
    assert attribution("cluster desk-a: reset", False, False) == ("cluster desk-a", "market-wide halt lifted on desk-a")
    assert attribution(None, True, False) == ("cluster", "remote change")


def test_a_facade_whose_redis_never_answers_works_locally_and_closes(caplog: pytest.LogCaptureFixture) -> None:
    from redis_fixture import free_port

    caplog.set_level(logging.WARNING, logger="ringbreaker.cluster")

    async def main() -> None:
        before = asyncio.all_tasks()
        cancel = CancelAll()
        tb = TradingBreakers.from_config({"cluster": {"url": f"redis://127.0.0.1:{free_port()}/0"}},
                                         cancel_all=cancel)
        await until(lambda: tb.statistics()["cluster"]["outages"] == 1, "the outage to be noticed")
        assert (await tb.check(drop(at(10, 0, 5), 0.075))).state is TradingState.HALTED
        record = await tb.kill("no redis", by="alice")
        assert record.cancel_all == "ok" and cancel.calls == 1
        assert tb.statistics()["cluster"]["connected"] is False
        assert tb.statistics()["cluster"]["pending"] >= 2  # the halt and the kill wait in the outbox
        await tb.close()
        assert asyncio.all_tasks() - before == set()

    asyncio.run(main())
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
