"""``TradingBreakers``: the trading desk's breakers behind one async facade."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import types
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import ManualClock
from ._breakers import Breaker, CountBreaker, KillSwitch, RateBreaker, VenueHaltBreaker, build
from ._config import FacadeConfig, parse, show
from ._events import EventBus, Subscriber, Subscription
from ._model import (
    BreakerEvent,
    BreakerType,
    Effect,
    EventKind,
    KillRecord,
    MarketSnapshot,
    TradingState,
    TradingStatus,
    screen,
    to_ns,
)
from ._rules import LuldBreaker, ThrottleBreaker
from ._source import MarketDataSource

if TYPE_CHECKING:
    from ..cluster import AsyncCluster
    from ._cluster import ClusterLink

NS = 1_000_000_000

CancelAll = Callable[[], Awaitable[object] | object]


class TimelinePoint(NamedTuple):
    """One check, for :meth:`TradingBreakers.plot`: its time, index level, VIX and state."""

    at_ns: int
    index_level: float | None
    vix: float | None
    state: TradingState


class TradingGauges(NamedTuple):
    """What the metrics exporters read (:meth:`TradingBreakers.gauges`): the state, each breaker's
    open flag by name (with its type), the risk score, event counts and each subscriber's drops."""

    state: TradingState
    tripped: Mapping[str, bool]
    types: Mapping[str, BreakerType]
    risk_score: float
    checks: int
    events_by_kind: Mapping[str, int]
    dropped_events: int
    subscriber_drops: Mapping[str, int]


class TradingBreakers:
    """A registry of typed breakers with one status.

    * ``check(snapshot)`` evaluates every breaker in one pass at ``snapshot.timestamp``, the
      rule time, and returns the :class:`TradingStatus`. The facade's clock serves only the
      calls that have no timestamp (``record_*`` without ``at=``, ``trip``, ``reset``,
      ``check_source``). The same snapshots give the same statuses, events and history:
      :meth:`replay` shows it.
    * Rate breakers are fed with ``record_order_result``, ``record_api_result``,
      ``record_trade``, ``record_message`` and ``record_fill``; order throttles with
      ``record_order``.
    * Status: HALTED if any open breaker's effect is HALT, else REDUCING (reduce-only, see
      :meth:`TradingStatus.allows`) if any is REDUCE, else ACTIVE. Cancels are never blocked.
    * Manual trips and the kill switch latch until an explicit :meth:`reset`.
    * There is no monitoring loop, timer or per-breaker task. The only tasks are one delivery
      worker per event subscriber, the cluster link's two tasks when a cluster is configured,
      and the cancel-all of a kill switch set by another facade, all ended by :meth:`close`.
    * With a cluster (a ``[cluster]`` table, or ``cluster=``), every kill switch and market-wide
      breaker is shared with the other facades on the same Redis: see ``README.md``.

    Clock convention: every time is UNIX-epoch nanoseconds; the clock is a zero-argument callable
    returning them (default ``time.time_ns``). For a simulated clock use
    ``manual_clock_at(datetime)`` (a :class:`ringbreaker.ManualClock` started at that instant).

    Use as ``async with TradingBreakers.from_config(cfg) as tb:``; :meth:`close` is idempotent.
    Use it from its event loop's thread.
    """

    def __init__(
        self,
        config: FacadeConfig,
        *,
        clock: Callable[[], int] | None = None,
        source: MarketDataSource | None = None,
        cancel_all: CancelAll | None = None,
        cancel_all_timeout: float = 10.0,
        cluster: AsyncCluster | None = None,
    ) -> None:
        if cancel_all is not None and not callable(cancel_all):
            raise TypeError("cancel_all must be callable")
        if not (isinstance(cancel_all_timeout, int | float) and 0 < cancel_all_timeout <= 3600):
            raise ValueError(f"cancel_all_timeout must be in 0..3600 seconds (exclusive of 0), got "
                             f"{show(cancel_all_timeout)}")
        self._config = config
        self._clock = clock or time.time_ns
        self._source = source
        self._cancel_all = cancel_all
        self._cancel_all_timeout = float(cancel_all_timeout)
        self._bus = EventBus(config.history_size, config.max_subscribers, config.subscriber_queue_size,
                             config.subscriber_timeout)
        self._closed = False
        self._build()
        self._tasks: set[asyncio.Task[KillRecord]] = set()
        self._actor: tuple[str, str] | None = None  # who is resetting, for the cluster's release
        self._from_cluster: set[str] = set()  # shared breakers open because the cluster said so
        self._link: ClusterLink | None = None
        if cluster is not None or config.cluster is not None:
            self._link = self._connect(cluster)

    def _build(self) -> None:
        """(Re)create every breaker and the aggregate state: the facade as constructed."""
        config = self._config
        self._core_clock = ManualClock()
        self._core_ns = 0
        self._breakers: dict[str, Breaker] = {}
        self._by_type: dict[BreakerType, tuple[Breaker, ...]] = {}
        for spec in config.breakers:
            b = build(spec.name, spec.type, spec.config, self._core_clock, config.calendar)
            self._breakers[spec.name] = b
            self._by_type[spec.type] = self._by_type.get(spec.type, ()) + (b,)
        self._all = tuple(self._breakers.values())
        self._view = types.MappingProxyType(self._breakers)
        self._open: dict[str, Effect] = {}
        self._n_halt = 0
        self._risk: dict[str, float] = {b.name: 0.0 for b in self._all}
        self._risk_max = 0.0
        self._status: TradingStatus | None = None
        self._now_ns = 0
        self._checks = 0
        self._bad_readings = 0
        self._kill: KillRecord | None = None
        self._timeline: deque[TimelinePoint] = deque(maxlen=config.history_size)

    def _connect(self, cluster: AsyncCluster | None) -> ClusterLink:
        """The link to the cluster: ``cluster`` (the caller's, left open by :meth:`close`) or an
        ``AsyncCluster`` made from the ``[cluster]`` table (closed by :meth:`close`)."""
        from ..cluster import AsyncCluster
        from ._cluster import ClusterLink

        cfg = self._config.cluster
        if cluster is not None:
            if cfg is not None:
                raise ValueError("cluster= was given and the configuration has a [cluster] table: give one")
            if not isinstance(cluster, AsyncCluster):
                raise TypeError(f"cluster must be a ringbreaker.cluster.AsyncCluster, got {type(cluster).__name__}")
            if cluster.closed:
                raise ValueError("cluster= is closed")
            owned = False
        else:
            assert cfg is not None
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError("a facade with a [cluster] table must be made inside a running event loop "
                                   "(its AsyncCluster runs two tasks on it)") from None
            cluster = AsyncCluster(cfg.url, follow=cfg.follow,  # type: ignore[arg-type]
                                   origin=cfg.origin, namespace=cfg.namespace)
            owned = True
        try:
            return ClusterLink(cluster, owned=owned,
                               kill_switches=[b.name for b in self._by_type.get(BreakerType.KILL_SWITCH, ())],
                               halts=[b.name for b in self._by_type.get(BreakerType.MARKET_WIDE, ())],
                               on_remote=self._on_remote)
        except BaseException:
            if owned:
                asyncio.get_running_loop().create_task(cluster.aclose())
            raise

    def _on_remote(self, name: str, opened: bool, by: str, reason: str) -> None:
        """Another facade set (or lifted) the shared breaker ``name``: apply it here. A kill
        switch latches with who and why, and this facade's ``cancel_all`` runs too."""
        if self._closed:
            return
        b = self._breakers[name]
        now = self._at(None)
        if opened:
            if b.is_open:
                return
            b.trip(now, reason, by)
            self._from_cluster.add(name)
            self._settle(b, now)
            if isinstance(b, KillSwitch):
                task = asyncio.get_running_loop().create_task(self._run_cancel_all(by, reason, now, b),
                                                              name=f"ringbreaker-trading-cancel-all-{name}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        else:
            # a released kill switch lifts everywhere; a market-wide halt lifts here only if it
            # came from the cluster (this facade's own rule keeps its own halt)
            if not b.is_open or not (isinstance(b, KillSwitch) or name in self._from_cluster):
                return
            b.reset(now, reason, by)
            self._settle(b, now)
            if isinstance(b, KillSwitch):
                self._kill = None

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any] | str | os.PathLike[str],
        clock: Callable[[], int] | None = None,
        *,
        source: MarketDataSource | None = None,
        cancel_all: CancelAll | None = None,
        cancel_all_timeout: float = 10.0,
        cluster: AsyncCluster | None = None,
    ) -> TradingBreakers:
        """Build from a dict or a TOML file (validated once; every error is a ``ConfigError``
        naming the key path). ``{}`` runs the standard set: market-wide index drop, VIX, venue
        halt, kill switch and data quality; a ``breakers`` table adds to it by name (``enabled =
        false`` leaves one out). The clock returns UNIX-epoch nanoseconds (default
        ``time.time_ns``). ``cancel_all`` is awaited by :meth:`kill` (and when another facade's
        kill switch reaches this one). ``cluster``: an :class:`ringbreaker.cluster.AsyncCluster`
        to share the kill switches and market-wide halts through (the caller closes it), instead
        of a ``[cluster]`` table (``url``, ``origin``, ``follow``, ``namespace``: the facade
        makes the cluster, inside the running loop, and closes it)."""
        return cls(parse(cfg), clock=clock, source=source, cancel_all=cancel_all,
                   cancel_all_timeout=cancel_all_timeout, cluster=cluster)

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> TradingBreakers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End the cluster link (closing the cluster the facade made), the cancel-alls that
        remote kills started (awaited: each is bounded by ``cancel_all_timeout``), every
        subscriber worker and thread, and the data source. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._link is not None:
                link, self._link = self._link, None
                await link.aclose()
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._bus.close()
        finally:
            if self._source is not None:
                source, self._source = self._source, None
                await source.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def _live(self) -> None:
        if self._closed:
            raise RuntimeError("the facade is closed")

    # -- time --------------------------------------------------------------------------------

    def _at(self, at: datetime | None) -> int:
        """The rule time of a call: ``at`` if given, else the facade clock. The core breakers'
        clock follows it forward (their windows never see time run backwards)."""
        if at is None:
            now = self._clock()
            if isinstance(now, bool) or not isinstance(now, int):
                raise TypeError(f"the facade clock must return integer UNIX-epoch nanoseconds, got {show(now)}")
        else:
            if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
                raise ValueError("at must be a timezone-aware datetime")
            now = to_ns(at)
        if now > self._core_ns:
            self._core_ns = now
            self._core_clock.set_ns(now)
        self._now_ns = now
        return now

    # -- evaluation --------------------------------------------------------------------------

    async def check(self, snapshot: MarketSnapshot) -> TradingStatus:
        """Evaluate every breaker at ``snapshot.timestamp`` and return the status. Implausible
        readings (see ``README``) are not fed to the rules: each is counted as bad data by the
        data-quality breaker. Awaits only if the kill switch trips here and ``cancel_all`` is set."""
        self._live()
        if not isinstance(snapshot, MarketSnapshot):
            raise TypeError("check() takes a MarketSnapshot")
        now = self._at(snapshot.timestamp)
        self._checks += 1
        snapshot, bad = screen(snapshot)
        killed = self._kill_open()
        for reason in bad:
            self._bad_reading(reason)
        for b in self._all:
            b.observe(snapshot, now)
            self._settle(b, now)
        status = self.status()
        self._timeline.append(TimelinePoint(now, snapshot.index_level, snapshot.vix, status.state))
        if not killed and self._kill_open():
            ks = next(k for k in self._by_type.get(BreakerType.KILL_SWITCH, ()) if k.is_open)
            m = ks.manual
            await self._run_cancel_all(m.by if m else "heartbeat monitor", m.reason if m else "", now, ks)
            status = self.status()
        return status

    async def replay(self, snapshots: Iterable[MarketSnapshot]) -> list[TradingStatus]:
        """Check each snapshot in order, from the facade's initial state (every breaker, the
        history and the event numbering are rebuilt first; subscribers stay), delivering every
        event to every subscriber before the next snapshot. The same snapshots always give the
        same statuses, events and history, whatever the facade did before. Not with a cluster:
        a replay must neither publish to nor follow the live desk."""
        self._live()
        if self._link is not None:
            raise RuntimeError("replay() needs a facade without a cluster: make one from the same "
                               "configuration without [cluster] to replay")
        self._bus.restart()
        self._build()
        out = []
        for snap in snapshots:
            out.append(await self.check(snap))
            await self._bus.drain()
        return out

    async def drain(self) -> None:
        """Wait until every subscriber has been handed every event published so far."""
        await self._bus.drain()

    async def check_source(self) -> TradingStatus:
        """Fetch a snapshot from the configured source (at the facade clock's time) and check."""
        self._live()
        if self._source is None:
            raise RuntimeError("no MarketDataSource was given to this facade")
        now = datetime.fromtimestamp(self._clock() / NS, timezone.utc)
        try:
            snapshot = await self._source.snapshot(now)
        except Exception as e:  # a source's bug or bad data is a data-quality event, never the caller's
            snapshot = MarketSnapshot(timestamp=now, rejected=(f"source: {type(e).__name__}: {str(e)[:120]}",))
        return await self.check(snapshot)

    def _bad_reading(self, reason: str) -> None:
        self._bad_readings += 1
        for b in self._by_type.get(BreakerType.DATA_QUALITY, ()):
            assert isinstance(b, CountBreaker)
            b.bad(reason)

    def _settle(self, b: Breaker, now: int) -> None:
        """Publish `b`'s events and fold its state into the aggregate (O(1) unless the top
        risk fell)."""
        last = ""
        for kind, reason, value in b.drain():
            last = reason
            self._bus.publish(BreakerEvent(self._bus.next_seq(), kind, b.name, b.type, b.effect, now, reason, value))
        effect = b.effect if b.is_open else None
        previous = self._open.get(b.name)
        if self._link is not None and (effect is None) is not (previous is None):
            if effect is None:
                self._from_cluster.discard(b.name)
            m = b.manual
            by, why = self._actor or ((m.by, m.reason) if m is not None else ("rule", last))
            self._link.push(b.name, effect is not None, by, why)
        if effect is not previous:
            if previous is Effect.HALT:
                self._n_halt -= 1
            if effect is Effect.HALT:
                self._n_halt += 1
            if effect is None:
                del self._open[b.name]
            else:
                self._open[b.name] = effect
            self._status = None
        # the score follows the state: 100 while halting, 60 while reducing, at most 90 when closed
        new = 100.0 if effect is Effect.HALT else 60.0 if effect is Effect.REDUCE else min(b.risk, 90.0)
        old = self._risk[b.name]
        if new != old:
            self._risk[b.name] = new
            if new >= self._risk_max:
                self._risk_max = new
            elif old == self._risk_max:
                self._risk_max = max(self._risk.values())
            self._status = None
        if isinstance(b, LuldBreaker):
            self._status = None  # per-symbol bands move with the reference price

    def status(self) -> TradingStatus:
        """The current status: built once per change, the same object until the next."""
        if self._status is None:
            if self._n_halt:
                state = TradingState.HALTED
            elif self._open:
                state = TradingState.REDUCING
            else:
                state = TradingState.ACTIVE
            tripped = tuple(sorted(self._open))
            halted: frozenset[str] = frozenset()
            for b in self._by_type.get(BreakerType.VENUE_HALT, ()):
                assert isinstance(b, VenueHaltBreaker)
                halted |= b.symbols
            symbols: dict[str, Any] = {}
            for b in self._by_type.get(BreakerType.LULD, ()):
                assert isinstance(b, LuldBreaker)
                halted |= b.paused
                symbols.update(b.statuses)
            if state is TradingState.ACTIVE:
                message = "Trading active"
            else:
                verb = "halted" if state is TradingState.HALTED else "reducing"
                parts = []
                for name in tripped:
                    m = self._breakers[name].manual
                    parts.append(f"{name} [by {m.by}: {m.reason}]" if m is not None and m.reason else
                                 f"{name} [by {m.by}]" if m is not None else name)
                message = f"Trading {verb}: {', '.join(parts)}"
                if halted:
                    message += f" ({', '.join(sorted(halted))})"
            self._status = TradingStatus(state, tripped, round(self._risk_max, 1), message, self._now_ns, halted,
                                         types.MappingProxyType(symbols))
        return self._status

    # -- feeding rate breakers ---------------------------------------------------------------

    def _feed(self, btype: BreakerType, fn: Callable[[Any], None], at: datetime | None) -> None:
        now = self._at(at)
        for b in self._by_type.get(btype, ()):
            fn(b)
            b.observe(None, now)
            self._settle(b, now)

    def record_order_result(self, *, rejected: bool = False, latency: float | None = None,
                            at: datetime | None = None) -> None:
        """An order's outcome: feeds the order-reject-rate breaker, the latency breaker (with
        ``latency`` in seconds) and the message-rate breaker. ``at``: when (default: the clock)."""
        self._live()
        if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int | float)
                                    or not 0 <= latency < 86_400):
            raise ValueError(f"latency must be a number of seconds in 0..86400, got {show(latency)}")
        self._feed(BreakerType.ORDER_REJECT_RATE, lambda b: b.record(not rejected), at)
        if latency is not None:
            self._feed(BreakerType.LATENCY, lambda b: b.record(True, latency), at)
        self._feed(BreakerType.MESSAGE_RATE, lambda b: b.count(), at)

    def record_api_result(self, ok: bool, *, at: datetime | None = None) -> None:
        """A call to a venue or broker API: feeds the API-error-rate breaker."""
        self._live()
        self._feed(BreakerType.API_ERROR_RATE, lambda b: b.record(ok), at)

    def record_trade(self, pnl: float, *, at: datetime | None = None) -> None:
        """A closed trade: a loss extends the stop-loss streak, a win ends it."""
        self._live()
        self._feed(BreakerType.STOP_LOSS_STREAK, lambda b: b.record(pnl >= 0), at)

    def record_message(self, *, at: datetime | None = None) -> None:
        """A submit, modify or cancel sent: counted by the message-rate breaker."""
        self._live()
        self._feed(BreakerType.MESSAGE_RATE, lambda b: b.count(), at)

    def record_fill(self, *, at: datetime | None = None) -> None:
        """A fill: counted by the execution throttle."""
        self._live()
        self._feed(BreakerType.EXECUTION_THROTTLE, lambda b: b.count(), at)

    def record_order(self, symbol: str, action: str = "submit", *, at: datetime | None = None) -> bool:
        """Ask the order throttles whether a ``"submit"``, ``"modify"`` or ``"cancel"`` message
        for ``symbol`` may go out now, and count it if so. A cancel always may. With no
        throttle configured, everything may."""
        self._live()
        if action not in ("submit", "modify", "cancel"):
            raise ValueError(f"action must be 'submit', 'modify' or 'cancel', got {show(action)}")
        if not isinstance(symbol, str) or not symbol:
            raise ValueError(f"symbol must be a non-empty string, got {show(symbol)}")
        now = self._at(at)
        ok = True
        for b in self._by_type.get(BreakerType.ORDER_THROTTLE, ()):
            assert isinstance(b, ThrottleBreaker)
            ok = b.check_order(symbol, action) and ok
            self._settle(b, now)
        return ok

    def heartbeat(self, *, at: datetime | None = None) -> None:
        """Tell heartbeat-watching kill switches the strategy is alive."""
        self._live()
        now = self._at(at)
        for b in self._by_type.get(BreakerType.KILL_SWITCH, ()):
            assert isinstance(b, KillSwitch)
            b.heartbeat(now)

    # -- manual control ----------------------------------------------------------------------

    def breaker(self, name: str) -> Breaker:
        """The breaker named ``name`` (O(1))."""
        try:
            return self._breakers[name]
        except KeyError:
            raise KeyError(f"no breaker named {name!r}; configured: {', '.join(self._breakers)}") from None

    def breakers_of(self, btype: BreakerType) -> tuple[Breaker, ...]:
        """The breakers of one type (O(1))."""
        return self._by_type.get(btype, ())

    @property
    def breakers(self) -> Mapping[str, Breaker]:
        """All breakers by name (a read-only view; the set is fixed at construction)."""
        return self._view

    @property
    def config(self) -> FacadeConfig:
        """The validated configuration."""
        return self._config

    def trip(self, name: str, reason: str = "", *, by: str = "operator", at: datetime | None = None) -> TradingStatus:
        """Open a breaker by hand. It latches, whatever its rule says, until :meth:`reset`;
        ``by`` and ``reason`` are in its event and in the status message. For the kill switch
        with its cancel-all, use :meth:`kill`."""
        self._live()
        b = self.breaker(name)
        now = self._at(at)
        b.trip(now, reason, by)
        if isinstance(b, RateBreaker | CountBreaker):
            b.observe(None, now)
        self._settle(b, now)
        return self.status()

    def reset(self, name: str, reason: str = "", *, by: str = "operator", at: datetime | None = None) -> TradingStatus:
        """Close a breaker by hand: ends a manual latch (and a latching rule's open state)."""
        self._live()
        b = self.breaker(name)
        now = self._at(at)
        b.reset(now, reason, by)
        if isinstance(b, RateBreaker | CountBreaker):
            b.observe(None, now)
        self._actor = (by, reason)
        try:
            self._settle(b, now)
        finally:
            self._actor = None
        if isinstance(b, KillSwitch):
            self._kill = None
        return self.status()

    def _kill_open(self) -> bool:
        return any(k.is_open for k in self._by_type.get(BreakerType.KILL_SWITCH, ()))

    async def kill(self, reason: str, *, by: str, name: str = "kill_switch", at: datetime | None = None) -> KillRecord:
        """The kill switch (RTS 6 art. 12 style): latch the kill switch ``name`` open, saying who
        and why, then await the ``cancel_all`` callback (bounded by ``cancel_all_timeout``) and
        record its outcome. Only :meth:`reset` undoes it. Returns the record, also kept in
        ``statistics()['kill']``."""
        self._live()
        if not isinstance(by, str) or not by:
            raise ValueError("kill() needs who: by='...'")
        b = self.breaker(name)
        if not isinstance(b, KillSwitch):
            raise TypeError(f"{name!r} is not a kill switch")
        now = self._at(at)
        b.trip(now, reason, by)
        self._settle(b, now)
        return await self._run_cancel_all(by, reason, now, b)

    async def _run_cancel_all(self, by: str, reason: str, now: int, ks: Breaker) -> KillRecord:
        fn = self._cancel_all
        if fn is None:
            outcome, result = "not configured", None
        else:
            try:
                async def call() -> object:
                    r = fn()
                    return await r if inspect.isawaitable(r) else r

                value = await asyncio.wait_for(call(), self._cancel_all_timeout)
                outcome, result = "ok", show(value)
            except asyncio.TimeoutError:
                outcome, result = "timeout", f"no answer in {self._cancel_all_timeout:g} s"
            except Exception as e:
                outcome, result = "failed", f"{type(e).__name__}: {e}"
        record = KillRecord(by, reason, now, outcome, result)
        self._kill = record
        ks._pending.append((EventKind.WARNING, f"cancel-all {outcome}" + (f": {result}" if result else ""), None))
        self._settle(ks, now)
        return record

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Subscription:
        """Deliver every event to ``fn`` (sync or async; anything awaitable it returns is
        awaited) through its own bounded queue and worker, with a per-delivery timeout.
        Returns a handle; ``close()`` it to stop."""
        self._live()
        return self._bus.subscribe(fn)

    def history(self) -> tuple[BreakerEvent, ...]:
        """The most recent events, oldest first (at most ``history_size``)."""
        return tuple(self._bus.history)

    def timeline(self) -> tuple[TimelinePoint, ...]:
        """Each check's time, index level, VIX and resulting state (at most ``history_size``)."""
        return tuple(self._timeline)

    def plot(self, path: str | os.PathLike[str] | None = None, *, title: str | None = None) -> Any:
        """Draw the day (see :func:`ringbreaker.trading.plot_timeline`); needs matplotlib (the
        ``plot`` extra). Returns the figure; writes it to ``path`` if given."""
        from ._plot import plot_timeline

        return plot_timeline(self.timeline(), self.history(), path, title=title)

    def statistics(self) -> dict[str, Any]:
        """Counters, all kept incrementally (the per-subscriber list is O(subscribers))."""
        bus = self._bus
        return {
            "breakers": len(self._all),
            "open_breakers": len(self._open),
            "state": self.status().state.value,
            "checks": self._checks,
            "events": bus.published,
            "events_by_kind": dict(bus.by_kind),
            "history": len(bus.history),
            "subscribers": bus.subscriber_count,
            "dropped_events": bus.dropped,
            "subscriber_errors": bus.errors,
            "subscriber_timeouts": bus.timeouts,
            "subscribers_detail": bus.subscriber_stats(),
            "bad_readings": self._bad_readings,
            "manual": {b.name: b.manual._asdict() for b in self._all if b.manual is not None},
            "kill": None if self._kill is None else {f: getattr(self._kill, f) for f in KillRecord.__slots__},
            "cluster": self._cluster_stats(),
            "orders_rejected_by_throttle": sum(b.rejected for b in self._by_type.get(BreakerType.ORDER_THROTTLE, ())
                                               if isinstance(b, ThrottleBreaker)),
        }

    def gauges(self) -> TradingGauges:
        """The state, tripped breakers, risk score and drop counts, for an exporter
        (``ringbreaker.prometheus.TradingCollector``, ``ringbreaker.otel.instrument_trading``).
        Safe from any thread (a scrape thread): it only reads, copying each container in one
        step, and never builds or caches the status. O(breakers + subscribers)."""
        open_ = dict(self._open)
        if any(e is Effect.HALT for e in open_.values()):
            state = TradingState.HALTED
        elif open_:
            state = TradingState.REDUCING
        else:
            state = TradingState.ACTIVE
        bus = self._bus
        return TradingGauges(
            state=state,
            tripped=types.MappingProxyType({b.name: b.name in open_ for b in self._all}),
            types=types.MappingProxyType({b.name: b.type for b in self._all}),
            risk_score=round(self._risk_max, 1),
            checks=self._checks,
            events_by_kind=types.MappingProxyType(dict(bus.by_kind)),
            dropped_events=bus.dropped,
            subscriber_drops=types.MappingProxyType(bus.drops_by_name()),
        )

    def _cluster_stats(self) -> dict[str, Any] | None:
        """The cluster link's counters (``ringbreaker.cluster.ClusterStats``) and the shared
        breakers; None without a cluster."""
        if self._link is None:
            return None
        import dataclasses

        return {**dataclasses.asdict(self._link.stats()), "shared": sorted(self._link.names)}

    # -- the old facade's names (deprecated) ---------------------------------------------------

    def add_event_callback(self, callback: Subscriber) -> Subscription:
        """Deprecated: use :meth:`subscribe`."""
        warnings.warn("add_event_callback() is deprecated; use subscribe()", DeprecationWarning, stacklevel=2)
        return self.subscribe(callback)

    def get_statistics(self) -> dict[str, Any]:
        """Deprecated: use :meth:`statistics`."""
        warnings.warn("get_statistics() is deprecated; use statistics()", DeprecationWarning, stacklevel=2)
        return self.statistics()

    def get_all_breakers(self) -> Mapping[str, Breaker]:
        """Deprecated: use :attr:`breakers`."""
        warnings.warn("get_all_breakers() is deprecated; use the breakers property", DeprecationWarning, stacklevel=2)
        return self.breakers

    async def shutdown(self) -> None:
        """Deprecated: use :meth:`close` (or ``async with``)."""
        warnings.warn("shutdown() is deprecated; use close() or async with", DeprecationWarning, stacklevel=2)
        await self.close()

    async def cleanup(self) -> None:
        """Deprecated: use :meth:`close` (or ``async with``)."""
        warnings.warn("cleanup() is deprecated; use close() or async with", DeprecationWarning, stacklevel=2)
        await self.close()
