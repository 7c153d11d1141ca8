"""``Cluster``: the cluster link on two threads with the synchronous ``redis`` client."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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


class Cluster(_Base):
    """A cluster link using threads and the synchronous ``redis`` client.

    ``url`` is a Redis URL; ``follow`` one of :data:`FOLLOW_MODES`; ``interval`` (seconds) the
    period of window-count publishing; ``max_event_age`` (seconds) the age past which a remote
    transition is not applied (``None``: any age); ``backoff`` the first and largest reconnect
    delay; ``outbox_limit`` the events kept while Redis is down; ``stream_maxlen`` the approximate
    length the event stream is trimmed to; ``on_event`` a callback for every remote event
    received (called on the reader thread). Two threads run until :meth:`close`.
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
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._core.wake = self._wake.set
        self._lease_client = self._client(timeout=1.0)
        self._lease_script = self._lease_client.register_script(_LEASE_LUA)
        self._pub_ok = False
        self._read_ok = False
        self._threads = [
            threading.Thread(target=self._publisher, name="ringbreaker-cluster-pub", daemon=True),
            threading.Thread(target=self._reader, name="ringbreaker-cluster-read", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _client(self, timeout: float) -> Any:
        return redis.Redis.from_url(
            self._url,
            socket_connect_timeout=1.0,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[],
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop both threads (joined before returning) and detach every breaker. Events still in
        the outbox are published first if Redis answers within about a second. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join()
        self._core.close()
        self._lease_client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._stop.is_set()

    def stats(self) -> ClusterStats:
        """Counters and link state."""
        return self._core.stats(self._pub_ok and self._read_ok and not self._core.down)

    # -- threads ------------------------------------------------------------------------------

    def _publisher(self) -> None:
        core = self._core
        r: Any = None
        back = _Backoff(*self._backoff)
        next_tick = time.monotonic()
        while True:
            stopping = self._stop.is_set()
            self._wake.clear()  # before the flush: an event queued during it wakes the wait below
            try:
                if r is None:
                    r = self._client(timeout=2.0)
                    r.ping()
                    self._pub_ok = True
                    core.link_ok("pub")
                    back.reset()
                self._flush(r)
                now = time.monotonic()
                if now >= next_tick and not stopping:
                    self._publish_counts(r)
                    next_tick = now + self._interval
                core.link_ok("pub")
            except _LINK_ERRORS + (redis.RedisError,) as exc:
                self._pub_ok = False
                if r is not None:
                    with contextlib.suppress(Exception):
                        r.close()
                r = None
                if stopping:
                    break
                core.link_failed("pub", exc)
                self._stop.wait(back.delay())
                continue
            if stopping:
                break
            self._wake.wait(max(0.0, next_tick - time.monotonic()))
        if r is not None:
            r.close()

    def _flush(self, r: Any) -> None:
        core = self._core
        while core.outbox:
            msg = core.outbox[0]
            pipe = r.pipeline(transaction=True)
            if msg["kind"] == "kill":
                pipe.hset(core.kill_key, msg["breaker"], json.dumps({"origin": msg["origin"], "reason": msg["reason"]}))
            elif msg["kind"] == "release":
                pipe.hdel(core.kill_key, msg["breaker"])
            pipe.xadd(core.stream, msg, maxlen=self._maxlen, approximate=True)
            pipe.execute()
            with core.lock:
                core.outbox.popleft()
                core.counts["published"] += 1

    def _publish_counts(self, r: Any) -> None:
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
            members = sorted(m.decode() for m in pipe.execute()[2])
            keys = [core.win_key(name, m) for m in members]
            values = r.mget(keys) if keys else []
            gone = [m for m, v in zip(members, values) if v is None]
            if gone:
                r.srem(core.win_set(name), *gone)
            core.evaluate(cb, spec, values)

    def _reader(self) -> None:
        core = self._core
        r: Any = None
        back = _Backoff(*self._backoff)
        last_id: str | None = None
        while not self._stop.is_set():
            try:
                if r is None:
                    r = self._client(timeout=self._block_ms / 1000 + 2.0)
                    if last_id is None:
                        newest = r.xrevrange(core.stream, count=1)
                        last_id = newest[0][0].decode() if newest else "0-0"
                    self._reconcile(r)
                    self._read_ok = True
                    core.link_ok("read")
                    back.reset()
                resp = r.xread({core.stream: last_id}, count=500, block=self._block_ms)
                for _stream, entries in resp or ():
                    for entry_id, fields in entries:
                        last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                        core.apply(fields)
                core.link_ok("read")
            except _LINK_ERRORS + (redis.RedisError,) as exc:
                self._read_ok = False
                if r is not None:
                    with contextlib.suppress(Exception):
                        r.close()
                r = None
                if self._stop.is_set():
                    break
                core.link_failed("read", exc)
                self._stop.wait(back.delay())
        if r is not None:
            r.close()

    def _reconcile(self, r: Any) -> None:
        """Apply kill switches recorded in Redis (set while this link was away)."""
        for name_b, value in r.hgetall(self._core.kill_key).items():
            held = json.loads(value)
            self._core.apply_kill(name_b.decode(), str(held.get("origin", "?")), held.get("reason"))


    # -- half-open leases ---------------------------------------------------------------------

    @contextlib.contextmanager
    def guard(self, name: str | CircuitBreaker) -> Iterator[CircuitBreaker]:
        """``with cluster.guard("orders"):`` — the breaker's own ``with`` block, plus a
        cluster-wide half-open lease while it is HALF_OPEN (when ``half_open_leases`` is set)."""
        cb, a = self._lease_spec(self._name(name))
        member = None
        if a.leases is not None and cb.state == State.HALF_OPEN:
            member = _lease_member(self._core.origin)
            try:
                ok = self._lease_script(
                    keys=[self._core.lease_key(cb.name)], args=[int(a.lease_ttl * 1000), a.leases, member]
                )
                self._core.link_ok("lease")
            except _LINK_ERRORS + (redis.RedisError,) as exc:
                self._core.link_failed("lease", exc)
                member, ok = None, 1  # Redis down: the local half-open limit alone applies
            if not ok:
                with self._core.lock:
                    self._core.counts["leases_denied"] += 1
                raise CircuitOpenError(cb.name, int(State.HALF_OPEN), None)
        try:
            with cb:
                yield cb
        finally:
            if member is not None:
                with contextlib.suppress(*_LINK_ERRORS, redis.RedisError):
                    self._lease_client.zrem(self._core.lease_key(cb.name), member)
