"""What both cluster links share: the event format and its application, the outbox, link state,
window-count evaluation and the public value types. No I/O here."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import redis

from .._breaker import CircuitBreaker, Subscription
from .._types import State, Transition

log = logging.getLogger("ringbreaker.cluster")

Follow = Literal["trips", "all", "kill-switch-only"]

#: What a follower applies, by mode. Kill switches and their release apply in every mode.
#:
#: * ``"kill-switch-only"``: only :meth:`Cluster.kill` / :meth:`Cluster.release`.
#: * ``"trips"`` (default): also every remote transition *into* OPEN (applied as ``trip`` when the
#:   local breaker is not already OPEN, HALF_OPEN or FORCED_OPEN) or
#:   FORCED_OPEN (applied as ``force_open``), and a remote ``reset`` out of FORCED_OPEN (applied as
#:   ``reset`` when the local breaker is FORCED_OPEN). Each breaker recovers on its own half-open
#:   trials; remote closes are not applied.
#: * ``"all"``: also remote transitions into CLOSED (``reset``), DISABLED (``disable``) and
#:   METRICS_ONLY (``metrics_only``). HALF_OPEN is never mirrored: there is no operation that
#:   enters it; an open breaker half-opens on its own ``open_duration``.
#:
#: In every mode an event is skipped when the local breaker is already in the target state, when
#: it is older than ``max_event_age`` (kill switches excepted), and a transition that would leave
#: FORCED_OPEN is skipped while a kill switch holds the breaker.
FOLLOW_MODES: tuple[str, ...] = ("trips", "all", "kill-switch-only")

# A remote trip leaves these alone: the local breaker already knows, and is probing on its own.
_OPENISH = (State.OPEN, State.HALF_OPEN, State.FORCED_OPEN)

# Takes a lease when fewer than ARGV[2] unexpired leases exist. Scored by the server's TIME, so
# the hosts' clocks never enter it. KEYS[1]: the sorted set; ARGV: ttl_ms, limit, member.
_LEASE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
  return 1
end
return 0
"""

_LINK_ERRORS: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class ClusterTrip:
    """Cluster-wide trip from the window counts of the live processes.

    Each process publishes its window's ``calls`` and ``failures`` every ``interval`` of the
    cluster; the counts expire ``ttl`` seconds later (a process that stops publishing is stale
    after ``ttl`` and no longer counted). The breaker trips when at least ``quorum`` live
    processes (this one included) report, their calls add up to at least ``minimum_calls`` and
    their failures to at least ``failure_rate`` of those calls.
    """

    failure_rate: float = 0.5
    minimum_calls: int = 20
    quorum: int = 1
    ttl: float = 3.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be in 0.0..1.0, got {self.failure_rate}")
        if self.minimum_calls < 1:
            raise ValueError(f"minimum_calls must be >= 1, got {self.minimum_calls}")
        if self.quorum < 1:
            raise ValueError(f"quorum must be >= 1, got {self.quorum}")
        if not self.ttl > 0:
            raise ValueError(f"ttl must be > 0 seconds, got {self.ttl}")


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """A remote event as this process received it, and what it did with it.

    ``action`` is the local operation applied (``"trip"``, ``"force_open"``, ``"reset"``,
    ``"disable"``, ``"metrics_only"``) or ``"none"``, with ``skipped`` saying why.
    ``sent_ns``/``received_ns`` are wall-clock ``time.time_ns()`` readings of the publisher and of
    this process.
    """

    origin: str
    seq: int
    kind: str  # "transition", "kill" or "release"
    breaker: str
    generation: int
    from_state: State | None
    to_state: State | None
    reason: str
    note: str | None
    sent_ns: int
    received_ns: int
    action: str
    skipped: str | None


@dataclass(frozen=True, slots=True)
class ClusterStats:
    """Counters of one cluster link (totals since it was made).

    ``connected`` is true while every connection to Redis answers. ``pending`` counts the events
    queued for publication: it grows during an outage and the publisher drains it right after the
    links come back, so it reaches 0 shortly after ``connected`` turns true, not at that instant.
    """

    origin: str
    connected: bool
    outages: int
    reconnects: int
    published: int
    applied: int
    duplicates: int
    skipped: int
    dropped: int
    pending: int
    cluster_trips: int
    leases_denied: int


@dataclass
class _Attached:
    ref: weakref.ReferenceType[CircuitBreaker]
    sub: Subscription
    trip: ClusterTrip | None
    leases: int | None
    lease_ttl: float


def _validate_common(follow: str, interval: float, max_event_age: float | None, backoff: tuple[float, float]) -> None:
    if follow not in FOLLOW_MODES:
        raise ValueError(f"follow must be one of {', '.join(map(repr, FOLLOW_MODES))}, got {follow!r}")
    if not interval > 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval}")
    if max_event_age is not None and not max_event_age > 0:
        raise ValueError(f"max_event_age must be None or > 0 seconds, got {max_event_age}")
    lo, hi = backoff
    if not (0 < lo <= hi):
        raise ValueError(f"backoff must be (first, max) seconds with 0 < first <= max, got {backoff}")


class _Core:
    """Everything except I/O: attached breakers, the outbox, decoding and applying events."""

    def __init__(
        self,
        *,
        follow: str,
        namespace: str,
        origin: str | None,
        max_event_age: float | None,
        outbox_limit: int,
        on_event: Callable[[ClusterEvent], object] | None,
    ) -> None:
        self.follow = follow
        self.ns = namespace
        self.origin = origin or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.max_event_age_ns = None if max_event_age is None else int(max_event_age * 1e9)
        self.outbox_limit = outbox_limit
        self.on_event = on_event
        self.stream = f"{namespace}:events"
        self.kill_key = f"{namespace}:kill"
        self.lock = threading.Lock()
        self.attached: dict[str, _Attached] = {}
        self.outbox: deque[dict[str, str]] = deque()
        self.seq = 0
        self.last_seq: dict[str, int] = {}
        self.last_gen: dict[tuple[str, str], int] = {}
        self.kills: dict[str, str] = {}  # breaker -> origin of the kill switch holding it
        self.my_kills: dict[str, str] = {}  # breaker -> reason, kills this origin set
        self.applying = threading.local()
        self.down = False
        self.down_since = 0.0
        self.failed: set[str] = set()
        self.counts = dict.fromkeys(
            (
                "outages",
                "reconnects",
                "published",
                "applied",
                "duplicates",
                "skipped",
                "dropped",
                "cluster_trips",
                "leases_denied",
            ),
            0,
        )
        self.wake: Callable[[], None] = lambda: None

    # -- keys ---------------------------------------------------------------------------------

    def win_set(self, name: str) -> str:
        return f"{self.ns}:win:{name}"

    def win_key(self, name: str, origin: str) -> str:
        return f"{self.ns}:win:{name}:{origin}"

    def lease_key(self, name: str) -> str:
        return f"{self.ns}:lease:{name}"

    # -- attaching ----------------------------------------------------------------------------

    def attach(
        self,
        breaker: CircuitBreaker,
        cluster_trip: ClusterTrip | None,
        half_open_leases: int | None,
        lease_ttl: float,
    ) -> CircuitBreaker:
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a CircuitBreaker, got {type(breaker).__name__}")
        if cluster_trip is not None and not isinstance(cluster_trip, ClusterTrip):
            raise TypeError("cluster_trip must be a ClusterTrip or None")
        if half_open_leases is not None and (isinstance(half_open_leases, bool) or half_open_leases < 1):
            raise ValueError(f"half_open_leases must be None or >= 1, got {half_open_leases}")
        if not lease_ttl > 0:
            raise ValueError(f"lease_ttl must be > 0 seconds, got {lease_ttl}")
        name = breaker.name
        with self.lock:
            old = self.attached.get(name)
            if old is not None and old.ref() is not None and old.ref() is not breaker:
                raise ValueError(f"name: a breaker named {name!r} is already attached")
            if old is not None:
                old.sub.close()
            sub = breaker.subscribe(self._listener(name))
            self.attached[name] = _Attached(weakref.ref(breaker), sub, cluster_trip, half_open_leases, lease_ttl)
            held = name in self.kills
        if held:
            self._do(breaker, "force_open", f"cluster kill switch ({self.kills.get(name)})")
        return breaker

    def detach(self, name: str) -> None:
        with self.lock:
            a = self.attached.pop(name, None)
        if a is not None:
            a.sub.close()

    def breaker(self, name: str) -> CircuitBreaker | None:
        a = self.attached.get(name)
        return None if a is None else a.ref()

    def live(self) -> list[tuple[CircuitBreaker, _Attached]]:
        out = []
        for a in list(self.attached.values()):
            cb = a.ref()
            if cb is not None:
                out.append((cb, a))
        return out

    def close(self) -> None:
        with self.lock:
            attached, self.attached = self.attached, {}
        for a in attached.values():
            a.sub.close()

    # -- publishing ---------------------------------------------------------------------------

    def _listener(self, name: str) -> Callable[[Transition], None]:
        def on_transition(t: Transition) -> None:
            if getattr(self.applying, "on", False):
                return  # applying a remote event: not ours to publish again
            self.enqueue(
                "transition",
                name,
                generation=t.generation,
                from_state=int(t.from_state),
                to_state=int(t.to_state),
                reason=t.reason,
                note=t.note,
            )

        return on_transition

    def enqueue(
        self,
        kind: str,
        name: str,
        *,
        generation: int = 0,
        from_state: int | None = None,
        to_state: int | None = None,
        reason: str = "",
        note: str | None = None,
        force: bool = False,
    ) -> None:
        with self.lock:
            if not force and len(self.outbox) >= self.outbox_limit:
                self.counts["dropped"] += 1
                return
            self.seq += 1
            msg = {
                "v": "1",
                "origin": self.origin,
                "seq": str(self.seq),
                "kind": kind,
                "breaker": name,
                "gen": str(generation),
                "from": "" if from_state is None else str(from_state),
                "to": "" if to_state is None else str(to_state),
                "reason": reason,
                "note": "" if note is None else note,
                "sent_ns": str(time.time_ns()),
            }
            self.outbox.append(msg)
        self.wake()

    def reassert_kills(self) -> None:
        """After a reconnect: publish this origin's kill switches again (idempotent for others)."""
        for name, reason in list(self.my_kills.items()):
            self.enqueue("kill", name, reason=reason, force=True)

    def kill(self, name: str, reason: str) -> None:
        cb = self.breaker(name)
        with self.lock:
            self.kills[name] = self.origin
            self.my_kills[name] = reason
        if cb is not None:
            self._do(cb, "force_open", f"cluster kill switch: {reason}")
        self.enqueue("kill", name, reason=reason, force=True)

    def release(self, name: str, reason: str) -> None:
        """Lift a kill switch here. Only the origin that set it lifts it everywhere (and removes
        it from Redis); a release by another process lifts it locally only, so the kill stays
        recorded for processes that attach later and for the origin's followers."""
        cb = self.breaker(name)
        with self.lock:
            self.kills.pop(name, None)
            mine = self.my_kills.pop(name, None) is not None
        if cb is not None and cb.state == State.FORCED_OPEN:
            self._do(cb, "reset", f"cluster kill switch released: {reason}")
        if mine:
            self.enqueue("release", name, reason=reason, force=True)

    # -- link state ---------------------------------------------------------------------------

    def link_failed(self, who: str, exc: BaseException) -> None:
        """``who`` (a connection: "pub", "read", "lease") failed. An outage starts when the
        first connection fails while all were up; it is logged and counted once."""
        with self.lock:
            was_up = not self.failed
            self.failed.add(who)
            if not was_up:
                return
            self.down = True
            self.down_since = time.monotonic()
            self.counts["outages"] += 1
            n = self.counts["outages"]
        log.warning(
            "ringbreaker.cluster %s: Redis unreachable (%s: %s); breakers keep working locally, "
            "events queue until it is back (outage #%d)",
            self.origin,
            type(exc).__name__,
            exc,
            n,
        )

    def link_ok(self, who: str) -> None:
        """``who`` works again. When no connection is failed any more, the outage ends: logged,
        counted, and this origin's kill switches are queued again (reconciliation)."""
        if who not in self.failed:
            return
        with self.lock:
            if who not in self.failed:
                return
            self.failed.discard(who)
            if self.failed:
                return
            self.down = False
            self.counts["reconnects"] += 1
            lasted = time.monotonic() - self.down_since
        log.warning(
            "ringbreaker.cluster %s: Redis is back after %.3f s; reconciling (%d queued events, %d own kill switches)",
            self.origin,
            lasted,
            len(self.outbox),
            len(self.my_kills),
        )
        self.reassert_kills()

    # -- window counts ------------------------------------------------------------------------

    @staticmethod
    def counts_value(cb: CircuitBreaker) -> str:
        m = cb.metrics()
        return json.dumps({"calls": m.calls, "failures": m.failures})

    def evaluate(self, cb: CircuitBreaker, spec: ClusterTrip, values: list[str | bytes | None]) -> None:
        live = [json.loads(v) for v in values if v is not None]
        if len(live) < spec.quorum:
            return
        calls = sum(int(v["calls"]) for v in live)
        failures = sum(int(v["failures"]) for v in live)
        if calls < spec.minimum_calls or failures < spec.failure_rate * calls:
            return
        if cb.state != State.CLOSED:
            return
        note = f"cluster_failure_rate {failures}/{calls} over {len(live)} processes"
        if cb.trip(note) is not None:
            with self.lock:
                self.counts["cluster_trips"] += 1

    # -- applying -----------------------------------------------------------------------------

    def _do(self, cb: CircuitBreaker, op: str, note: str) -> None:
        self.applying.on = True
        try:
            getattr(cb, op)(note)
        finally:
            self.applying.on = False

    def apply(self, raw: dict[Any, Any]) -> None:
        f = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
        origin = f.get("origin", "")
        if origin == self.origin or f.get("v") != "1":
            return
        received = time.time_ns()
        try:
            seq = int(f["seq"])
            kind = f["kind"]
            name = f["breaker"]
            gen = int(f["gen"])
            frm = State(int(f["from"])) if f["from"] else None
            to = State(int(f["to"])) if f["to"] else None
            sent = int(f["sent_ns"])
            reason = f["reason"]
            note = f["note"] or None
        except (KeyError, ValueError) as exc:  # not ours, or from an incompatible version
            with self.lock:
                self.counts["skipped"] += 1
            log.warning("ringbreaker.cluster %s: skipped a malformed event %r (%s)", self.origin, f, exc)
            return
        with self.lock:
            if seq <= self.last_seq.get(origin, 0):
                self.counts["duplicates"] += 1
                return
            self.last_seq[origin] = seq
        action, skipped = self._decide(kind, name, gen, origin, frm, to, sent, received, reason)
        with self.lock:
            self.counts["applied" if action != "none" else "skipped"] += 1
        if self.on_event is not None:
            event = ClusterEvent(origin, seq, kind, name, gen, frm, to, reason, note, sent, received, action, skipped)
            try:
                self.on_event(event)
            except Exception:
                log.exception("ringbreaker.cluster on_event callback raised on %s", event)

    def _decide(
        self,
        kind: str,
        name: str,
        gen: int,
        origin: str,
        frm: State | None,
        to: State | None,
        sent: int,
        received: int,
        reason: str,
    ) -> tuple[str, str | None]:
        cb = self.breaker(name)
        if kind == "kill":
            with self.lock:
                self.kills[name] = origin
            if cb is None:
                return "none", "not attached here"
            if cb.state == State.FORCED_OPEN:
                return "none", "already forced open"
            self._do(cb, "force_open", f"cluster kill switch from {origin}: {reason}")
            return "force_open", None
        if kind == "release":
            with self.lock:
                if self.kills.get(name) == origin:
                    del self.kills[name]
            if cb is None:
                return "none", "not attached here"
            if cb.state != State.FORCED_OPEN:
                return "none", "not forced open"
            if name in self.kills:
                return "none", "another kill switch holds it"
            self._do(cb, "reset", f"cluster kill switch released by {origin}: {reason}")
            return "reset", None
        if kind != "transition" or to is None:
            return "none", f"unknown kind {kind!r}"
        if cb is None:
            return "none", "not attached here"
        if self.follow == "kill-switch-only":
            return "none", "follow='kill-switch-only'"
        if self.max_event_age_ns is not None and received - sent > self.max_event_age_ns:
            return "none", "older than max_event_age"
        key = (origin, name)
        with self.lock:
            if gen <= self.last_gen.get(key, -1):
                return "none", "generation already applied"
            self.last_gen[key] = gen
        local = cb.state
        if local == State.FORCED_OPEN and to != State.FORCED_OPEN and name in self.kills:
            return "none", "a kill switch holds it"
        note = f"cluster {origin}: {reason}"
        if to == State.OPEN:
            if local in _OPENISH:
                return "none", f"already {local.name}"
            self._do(cb, "trip", note)
            return "trip", None
        if to == State.FORCED_OPEN:
            if local == State.FORCED_OPEN:
                return "none", "already FORCED_OPEN"
            self._do(cb, "force_open", note)
            return "force_open", None
        if to == State.CLOSED and frm == State.FORCED_OPEN and self.follow == "trips":
            if local != State.FORCED_OPEN:
                return "none", f"local is {local.name}, not FORCED_OPEN"
            self._do(cb, "reset", note)
            return "reset", None
        if self.follow != "all":
            return "none", f"follow='trips' does not apply {to.name}"
        op = {State.CLOSED: "reset", State.DISABLED: "disable", State.METRICS_ONLY: "metrics_only"}.get(to)
        if op is None:
            return "none", f"{to.name} is never mirrored"
        if local == to:
            return "none", f"already {local.name}"
        self._do(cb, op, note)
        return op, None

    def apply_kill(self, name: str, origin: str, reason: str | None = None) -> None:
        """A kill switch found in the Redis hash (on connect or reconnect), with the reason its
        origin gave, when the hash has it."""
        with self.lock:
            self.kills.setdefault(name, origin)
        cb = self.breaker(name)
        if cb is not None and cb.state != State.FORCED_OPEN:
            note = (
                f"cluster kill switch from {origin}: {reason}"
                if reason
                else f"cluster kill switch from {origin} (reconciled)"
            )
            self._do(cb, "force_open", note)

    def stats(self, connected: bool) -> ClusterStats:
        with self.lock:
            c = dict(self.counts)
            pending = len(self.outbox)
        return ClusterStats(
            origin=self.origin,
            connected=connected,
            outages=c["outages"],
            reconnects=c["reconnects"],
            published=c["published"],
            applied=c["applied"],
            duplicates=c["duplicates"],
            skipped=c["skipped"],
            dropped=c["dropped"],
            pending=pending,
            cluster_trips=c["cluster_trips"],
            leases_denied=c["leases_denied"],
        )


class _Backoff:
    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap, self.next = first, cap, first

    def delay(self) -> float:
        d = self.next
        self.next = min(self.cap, self.next * 2)
        return d * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.next = self.first


def _lease_member(origin: str) -> str:
    return f"{origin}:{uuid.uuid4().hex[:12]}"


class _Base:
    _core: _Core

    def attach(
        self,
        breaker: CircuitBreaker,
        *,
        cluster_trip: ClusterTrip | None = None,
        half_open_leases: int | None = None,
        lease_ttl: float = 10.0,
    ) -> CircuitBreaker:
        """Share ``breaker``'s transitions and follow the others' (by name). ``cluster_trip``
        turns on the cluster-wide trip from window counts; ``half_open_leases`` caps the trial
        calls through :meth:`guard` across all hosts, each lease expiring after ``lease_ttl``
        seconds. The cluster holds the breaker weakly. Returns the breaker."""
        return self._core.attach(breaker, cluster_trip, half_open_leases, lease_ttl)

    def detach(self, name: str) -> None:
        """Stop sharing the breaker named ``name``."""
        self._core.detach(name)

    def kill(self, name: str, reason: str = "kill switch") -> None:
        """Force-open ``name`` here now and on every host (every ``follow`` mode applies it);
        latched in Redis until :meth:`release`. Never blocks on Redis."""
        self._core.kill(self._name(name), reason)

    def release(self, name: str, reason: str = "released") -> None:
        """Lift the kill switch on ``name`` here and on every host (resets FORCED_OPEN breakers)."""
        self._core.release(self._name(name), reason)

    @property
    def origin(self) -> str:
        """This link's origin id, carried by every event it publishes."""
        return self._core.origin

    @property
    def killed(self) -> frozenset[str]:
        """Names held by a kill switch, as this process knows them."""
        with self._core.lock:
            return frozenset(self._core.kills)

    @staticmethod
    def _name(name: object) -> str:
        if isinstance(name, CircuitBreaker):
            return name.name
        if not isinstance(name, str):
            raise TypeError(f"name must be a str or CircuitBreaker, got {type(name).__name__}")
        return name

    def _lease_spec(self, name: str) -> tuple[CircuitBreaker, _Attached]:
        a = self._core.attached.get(name)
        cb = None if a is None else a.ref()
        if cb is None or a is None:
            raise KeyError(f"no breaker named {name!r} is attached to this cluster")
        return cb, a
