"""``ringbreaker.cluster``: breakers on several hosts sharing signals through Redis.

Signals, not locks. Each process keeps its local breaker authoritative and its hot path never
touches the network: a call through a closed breaker is the same handful of atomic instructions
with or without a cluster. What crosses the network:

* **Transitions.** Every state change of an attached breaker is queued (a deque append, in the
  thread that made it) and published by a background thread or task to one Redis stream, with
  the origin (one id per :class:`Cluster`), a per-origin sequence number, the breaker's name,
  generation, from/to states, reason and note. Every other process reads the stream in order and
  applies what its ``follow`` mode says (see :data:`FOLLOW_MODES`). An event is applied at most
  once (sequence numbers per origin; a transition also only if its generation is newer than the
  last applied from that origin for that breaker), and in the order its origin published it.
  Applying a remote event calls the local breaker's ``trip`` / ``force_open`` / ``reset`` / ...,
  whose own transition is not published again (no echo).
* **Kill switches.** :meth:`Cluster.kill` force-opens the breaker here at once and publishes a kill
  that every mode applies; it is also kept in a Redis hash, so a process that attaches or comes
  back later finds it, and the origin re-asserts its kills whenever its link comes back (so a kill
  switch set while Redis was down, or lost by a Redis restart, is not lost). Only
  :meth:`Cluster.release` lifts it, everywhere.
* **Window counts** (optional, per breaker, :class:`ClusterTrip`): each process publishes its
  window's calls and failures every ``interval`` under a key that expires after ``ttl``; a process
  whose counts have expired is stale and not counted. When at least ``quorum`` live processes
  report, their summed calls reach ``minimum_calls`` and the summed failure rate reaches
  ``failure_rate``, a closed breaker trips locally (reason ``trip``, note starting with
  ``cluster_failure_rate``), which is then published like any trip.
* **Half-open leases** (optional, per breaker): while the local breaker is HALF_OPEN, a call through
  :meth:`Cluster.guard` first takes one of ``half_open_leases`` expiring leases in a Redis sorted
  set (scored by the server's clock, so host clocks do not matter); with none free it is rejected
  with :class:`~ringbreaker.CircuitOpenError`. Only this path talks to Redis on a call, and only in
  HALF_OPEN.

Redis down: everything keeps working locally. The first failure of an outage is logged once as a
warning on the ``ringbreaker.cluster`` logger and counted (``stats().outages``); the link is
retried with exponential backoff (``backoff`` seconds, doubling, with jitter); events wait in a
bounded outbox (overflow is counted in ``stats().dropped``, never blocks). On return: the outbox is
published in order, this origin's kill switches are re-asserted, the reader catches up from the
last stream entry it read, and the kill hash is re-read and applied. A half-open lease that cannot
be taken because Redis is down falls back to the local breaker's own limit.

:class:`Cluster` uses threads and the synchronous ``redis`` client; :class:`AsyncCluster` uses
``redis.asyncio`` and tasks on the running loop. Both stop everything they started on
``close()`` / ``aclose()``.
"""

from __future__ import annotations

from ._async import AsyncCluster
from ._core import FOLLOW_MODES, ClusterEvent, ClusterStats, ClusterTrip, Follow
from ._sync import Cluster

__all__ = [
    "FOLLOW_MODES",
    "AsyncCluster",
    "Cluster",
    "ClusterEvent",
    "ClusterStats",
    "ClusterTrip",
    "Follow",
]
