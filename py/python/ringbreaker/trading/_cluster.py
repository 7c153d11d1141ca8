"""The facade's link to :mod:`ringbreaker.cluster`: its kill switches and market-wide halts
shared with the other facades on the same Redis.

Each shared facade breaker has a stand-in core :class:`~ringbreaker.CircuitBreaker` named
``trading.<name>``, attached to an :class:`~ringbreaker.cluster.AsyncCluster`; it never guards a
call, it only carries state across hosts:

* a kill switch that latches here is a cluster kill switch (``cluster.kill``: every ``follow``
  mode applies it, it is kept in Redis for facades that start or reconnect later); its reset
  here is ``cluster.release``, which lifts it everywhere;
* a market-wide halt here force-opens the stand-in, a transition the others apply in the
  ``"trips"`` and ``"all"`` modes; its end here resets the stand-in, which they apply too.

A change of a stand-in that this link did not make is a remote one; it is handed to the facade
(on the event loop, where ``AsyncCluster`` applies remote events) with its attribution.
"""

from __future__ import annotations

import asyncio
import json
import time
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .. import CircuitBreaker, State, Subscription, Transition

if TYPE_CHECKING:
    from ..cluster import AsyncCluster, ClusterStats

#: The stand-in breakers' name prefix: ``trading.kill_switch``, ``trading.market_wide``.
PREFIX = "trading."

# The notes ringbreaker.cluster gives the operations it applies (pinned by test_trading_cluster.py).
_RECONCILED = re.compile(r"cluster kill switch from (?P<origin>.+) \(reconciled\)", re.S)
_HELD = re.compile(r"cluster kill switch \((?P<origin>.+)\)", re.S)
_KILL = re.compile(r"cluster kill switch from (?P<origin>.+?): (?P<reason>.*)", re.S)
_RELEASE = re.compile(r"cluster kill switch released by (?P<origin>.+?): (?P<reason>.*)", re.S)
_TRANSITION = re.compile(r"cluster (?P<origin>.+?): (?P<reason>.*)", re.S)

#: ``on_remote(name, opened, by, reason)``
OnRemote = Callable[[str, bool, str, str], None]


def _payload(by: str, reason: str) -> str:
    return json.dumps({"by": by, "reason": reason}, separators=(",", ":"))


def _who(origin: str, text: str) -> tuple[str, str]:
    """Who and why, from a payload this module wrote (or any text another tool sent)."""
    try:
        p = json.loads(text)
        if isinstance(p, dict) and isinstance(p.get("by"), str) and isinstance(p.get("reason"), str):
            return f"{p['by']} via cluster {origin}", p["reason"]
    except ValueError:
        pass
    return f"cluster {origin}", text


def attribution(note: str | None, opened: bool, kill: bool) -> tuple[str, str]:
    """``(by, reason)`` for a remote change of a stand-in, from the note the cluster gave it."""
    note = note or ""
    for pattern in (_RECONCILED, _HELD):
        m = pattern.fullmatch(note)
        if m:
            return f"cluster {m['origin']}", "kill switch held in the cluster (found on connect)"
    m = (_KILL if opened else _RELEASE).fullmatch(note)
    if m:
        return _who(m["origin"], m["reason"])
    m = _TRANSITION.fullmatch(note)
    if m:
        what = ("kill switch" if kill else "market-wide halt") + (" set" if opened else " lifted")
        return f"cluster {m['origin']}", f"{what} on {m['origin']}"
    return "cluster", note or "remote change"


class ClusterLink:
    """Stand-ins for the shared facade breakers on one :class:`AsyncCluster`."""

    def __init__(self, cluster: AsyncCluster, *, owned: bool, kill_switches: Iterable[str],
                 halts: Iterable[str], on_remote: OnRemote) -> None:
        self.cluster = cluster
        self.owned = owned
        self._on_remote = on_remote
        self._kills = frozenset(kill_switches)
        self._proxies: dict[str, CircuitBreaker] = {}
        self._subs: list[Subscription] = []
        self._pushing = False
        self._closed = False
        try:
            for name in (*sorted(self._kills), *sorted(halts)):
                cb = CircuitBreaker(PREFIX + name, minimum_calls=2**32 - 1, open_duration=86_400.0)
                self._proxies[name] = cb
                self._subs.append(cb.subscribe(self._listener(name)))
                cluster.attach(cb)
        except BaseException:
            self._detach()
            raise

    @property
    def names(self) -> frozenset[str]:
        """The facade breakers this link shares."""
        return frozenset(self._proxies)

    @property
    def origin(self) -> str:
        return self.cluster.origin

    def stats(self) -> ClusterStats:
        return self.cluster.stats()

    def _listener(self, name: str) -> Callable[[Transition], None]:
        kill = name in self._kills

        def on_transition(t: Transition) -> None:
            if self._pushing or self._closed:
                return  # our own push, or after close
            if t.to_state in (State.FORCED_OPEN, State.OPEN):
                opened = True
            elif t.to_state is State.CLOSED:
                opened = False
            else:
                return
            by, reason = attribution(t.note, opened, kill)
            self._on_remote(name, opened, by, reason)

        return on_transition

    def push(self, name: str, opened: bool, by: str, reason: str) -> None:
        """The facade breaker ``name`` opened (or closed) here: tell the cluster, unless its
        stand-in already says so (a change that came from the cluster goes no further)."""
        cb = self._proxies.get(name)
        if cb is None or self._closed:
            return
        forced = cb.state is State.FORCED_OPEN
        if opened == forced:
            return
        payload = _payload(by, reason)
        self._pushing = True
        try:
            if name in self._kills:
                (self.cluster.kill if opened else self.cluster.release)(cb.name, payload)
            elif opened:
                cb.force_open(payload)
            else:
                cb.reset(payload)
        finally:
            self._pushing = False

    def _detach(self) -> None:
        for s in self._subs:
            s.close()
        for cb in self._proxies.values():
            try:
                self.cluster.detach(cb.name)
            except Exception:  # pragma: no cover - detaching never fails today
                pass

    async def aclose(self, flush: float = 1.0) -> None:
        """Detach the stand-ins; close the cluster if this link made it, after giving its
        publisher up to ``flush`` seconds to send what is queued (a kill switch set just before
        ``close()`` still reaches the others while Redis is up). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._detach()
        if self.owned:
            deadline = time.monotonic() + flush
            while time.monotonic() < deadline:
                s = self.cluster.stats()
                if s.pending == 0 or not s.connected:
                    break
                await asyncio.sleep(0.01)
            await self.cluster.aclose()
