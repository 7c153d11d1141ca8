"""``AsyncCluster``: the cluster link on two asyncio tasks with ``redis.asyncio``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from .._breaker import CircuitBreaker
from .._types import CircuitOpenError, State
from ._core import (
    _LEASE_LUA,
    _LINK_ERRORS,
    ClusterEvent,
    ClusterStats,
    Follow,
    _Backoff,
    _Base,
    _Core,
    _lease_member,
    _validate_common,
)


class AsyncCluster(_Base):
    """The asyncio form of :class:`Cluster`: ``redis.asyncio``, two tasks on the running loop.

    Make it inside a running loop; ``async with AsyncCluster(...) as c:`` or ``await c.aclose()``
    cancels and awaits both tasks. Same parameters and semantics as :class:`Cluster`;
    ``on_event`` runs on the loop.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        follow: Follow = "trips",
        namespace: str = "ringbreaker",
        origin: str | None = None,
        interval: float = 1.0,
        max_event_age: float | None = 60.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        outbox_limit: int = 10_000,
        stream_maxlen: int = 10_000,
        block: float = 0.2,
        on_event: Callable[[ClusterEvent], object] | None = None,
    ) -> None:
        _validate_common(follow, interval, max_event_age, backoff)
        self._loop = asyncio.get_running_loop()
        self._core = _Core(
            follow=follow,
            namespace=namespace,
            origin=origin,
            max_event_age=max_event_age,
            outbox_limit=outbox_limit,
            on_event=on_event,
        )
        self._url = url
        self._interval = interval
        self._backoff = backoff
        self._maxlen = stream_maxlen
        self._block_ms = max(1, int(block * 1000))
        self._closed = False
        self._wake = asyncio.Event()
        self._core.wake = self._wake_threadsafe
        self._lease_client = self._client(timeout=1.0)
        self._lease_script = self._lease_client.register_script(_LEASE_LUA)
        self._pub_ok = False
        self._read_ok = False
        self._tasks = [
            self._loop.create_task(self._publisher(), name="ringbreaker-cluster-pub"),
            self._loop.create_task(self._reader(), name="ringbreaker-cluster-read"),
        ]

    def _wake_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to wake
            self._loop.call_soon_threadsafe(self._wake.set)

    def _client(self, timeout: float) -> Any:
        return aioredis.Redis.from_url(
            self._url,
            socket_connect_timeout=1.0,
            socket_timeout=timeout,
            retry=AsyncRetry(NoBackoff(), 1),
            retry_on_error=[],
        )

    async def aclose(self) -> None:
        """Cancel and await both tasks and detach every breaker. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._core.close()
        await self._lease_client.aclose()

    async def __aenter__(self) -> AsyncCluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    def stats(self) -> ClusterStats:
        """Counters and link state."""
        return self._core.stats(self._pub_ok and self._read_ok and not self._core.down)

    async def _publisher(self) -> None:
        core = self._core
        r: Any = None
        back = _Backoff(*self._backoff)
        next_tick = time.monotonic()
        try:
            while not self._closed:  # also checked: 3.11's wait_for can swallow a cancel
                self._wake.clear()  # before the flush: an event queued during it wakes the wait
                try:
                    if r is None:
                        r = self._client(timeout=2.0)
                        await r.ping()
                        self._pub_ok = True
                        core.link_ok("pub")
                        back.reset()
                    await self._flush(r)
                    now = time.monotonic()
                    if now >= next_tick:
                        await self._publish_counts(r)
                        next_tick = now + self._interval
                    core.link_ok("pub")
                except _LINK_ERRORS + (redis.RedisError,) as exc:
                    self._pub_ok = False
                    if r is not None:
                        with contextlib.suppress(Exception):
                            await r.aclose()
                    r = None
                    core.link_failed("pub", exc)
                    await asyncio.sleep(back.delay())
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_tick - time.monotonic()))
        finally:
            if r is not None:
                with contextlib.suppress(Exception):
                    await r.aclose()

    async def _flush(self, r: Any) -> None:
        core = self._core
        while core.outbox:
            msg = core.outbox[0]
            pipe = r.pipeline(transaction=True)
            if msg["kind"] == "kill":
                pipe.hset(core.kill_key, msg["breaker"], json.dumps({"origin": msg["origin"], "reason": msg["reason"]}))
            elif msg["kind"] == "release":
                pipe.hdel(core.kill_key, msg["breaker"])
            pipe.xadd(core.stream, msg, maxlen=self._maxlen, approximate=True)
            await pipe.execute()
            with core.lock:
                core.outbox.popleft()
                core.counts["published"] += 1

    async def _publish_counts(self, r: Any) -> None:
        core = self._core
        for cb, a in core.live():
            spec = a.trip
            if spec is None:
                continue
            name = cb.name
            ttl_ms = max(1, int(spec.ttl * 1000))
            pipe = r.pipeline(transaction=False)
            pipe.set(core.win_key(name, core.origin), core.counts_value(cb), px=ttl_ms)
            pipe.sadd(core.win_set(name), core.origin)
            pipe.smembers(core.win_set(name))
            members = sorted(m.decode() for m in (await pipe.execute())[2])
            keys = [core.win_key(name, m) for m in members]
            values = await r.mget(keys) if keys else []
            gone = [m for m, v in zip(members, values) if v is None]
            if gone:
                await r.srem(core.win_set(name), *gone)
            core.evaluate(cb, spec, values)

    async def _reader(self) -> None:
        core = self._core
        r: Any = None
        back = _Backoff(*self._backoff)
        last_id: str | None = None
        try:
            while not self._closed:
                try:
                    if r is None:
                        r = self._client(timeout=self._block_ms / 1000 + 2.0)
                        if last_id is None:
                            newest = await r.xrevrange(core.stream, count=1)
                            last_id = newest[0][0].decode() if newest else "0-0"
                        for name_b, value in (await r.hgetall(core.kill_key)).items():
                            held = json.loads(value)
                            self._core.apply_kill(
                                name_b.decode(), str(held.get("origin", "?")), held.get("reason")
                            )
                        self._read_ok = True
                        core.link_ok("read")
                        back.reset()
                    resp = await r.xread({core.stream: last_id}, count=500, block=self._block_ms)
                    for _stream, entries in resp or ():
                        for entry_id, fields in entries:
                            last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                            core.apply(fields)
                    core.link_ok("read")
                except _LINK_ERRORS + (redis.RedisError,) as exc:
                    self._read_ok = False
                    if r is not None:
                        with contextlib.suppress(Exception):
                            await r.aclose()
                    r = None
                    core.link_failed("read", exc)
                    await asyncio.sleep(back.delay())
        finally:
            if r is not None:
                with contextlib.suppress(Exception):
                    await r.aclose()


    @contextlib.asynccontextmanager
    async def guard(self, name: str | CircuitBreaker) -> AsyncIterator[CircuitBreaker]:
        """``async with cluster.guard("orders"):`` — as :meth:`Cluster.guard`."""
        cb, a = self._lease_spec(self._name(name))
        member = None
        if a.leases is not None and cb.state == State.HALF_OPEN:
            member = _lease_member(self._core.origin)
            try:
                ok = await self._lease_script(
                    keys=[self._core.lease_key(cb.name)], args=[int(a.lease_ttl * 1000), a.leases, member]
                )
                self._core.link_ok("lease")
            except _LINK_ERRORS + (redis.RedisError,) as exc:
                self._core.link_failed("lease", exc)
                member, ok = None, 1
            if not ok:
                with self._core.lock:
                    self._core.counts["leases_denied"] += 1
                raise CircuitOpenError(cb.name, int(State.HALF_OPEN), None)
        try:
            async with cb:
                yield cb
        finally:
            if member is not None:
                with contextlib.suppress(*_LINK_ERRORS, redis.RedisError):
                    await self._lease_client.zrem(self._core.lease_key(cb.name), member)
