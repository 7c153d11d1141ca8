"""``TradingBreakers``: the trading desk's breakers behind one async facade."""

from __future__ import annotations

import os
import time
import types
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .. import ManualClock
from ._breakers import Breaker, CountBreaker, KillSwitch, RateBreaker, VenueHaltBreaker, build
from ._config import FacadeConfig, parse
from ._events import EventBus, Subscriber, Subscription
from ._model import BreakerEvent, BreakerType, Effect, MarketSnapshot, TradingState, TradingStatus
from ._source import MarketDataSource

NS = 1_000_000_000


class TradingBreakers:
    """A registry of typed breakers with one status.

    * ``check(snapshot)`` evaluates every breaker in one pass, CPU only (it never awaits), at
      ``snapshot.timestamp``; it returns the :class:`TradingStatus`.
    * Rate breakers are fed with ``record_order_result``, ``record_api_result``,
      ``record_trade``, ``record_message`` and ``record_fill``, at the facade clock's time.
    * Status: HALTED if any open breaker's effect is HALT, else REDUCING if any is REDUCE,
      else ACTIVE. Cancels are never blocked: the status is advice for new risk, and a
      HALTED desk should still cancel working orders.
    * Cooldowns are the core's lazy Open → HalfOpen and time-of-day rules read the time they
      are given: there is no monitoring loop, no timer and no per-breaker task. The only tasks
      are one delivery worker per event subscriber, all ended by :meth:`close`.

    Use as ``async with TradingBreakers.from_config(cfg) as tb:``; :meth:`close` is idempotent.
    Use it from its event loop's thread.
    """

    def __init__(
        self,
        config: FacadeConfig,
        *,
        clock: Callable[[], int] | None = None,
        source: MarketDataSource | None = None,
    ) -> None:
        self._config = config
        self._clock = clock or time.time_ns
        self._source = source
        self._core_clock = ManualClock()
        self._breakers: dict[str, Breaker] = {}
        self._by_type: dict[BreakerType, tuple[Breaker, ...]] = {}
        for spec in config.breakers:
            b = build(spec.name, spec.type, spec.config, self._core_clock)
            self._breakers[spec.name] = b
            self._by_type[spec.type] = self._by_type.get(spec.type, ()) + (b,)
        self._all = tuple(self._breakers.values())
        self._view = types.MappingProxyType(self._breakers)
        self._bus = EventBus(config.history_size, config.max_subscribers, config.subscriber_queue_size,
                             config.subscriber_timeout)
        # aggregate state, updated incrementally as breakers open and close
        self._open: dict[str, Effect] = {}
        self._n_halt = 0
        self._risk: dict[str, float] = {b.name: 0.0 for b in self._all}
        self._risk_max = 0.0
        self._status: TradingStatus | None = None
        self._now_ns = 0
        self._checks = 0
        self._closed = False

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any] | str | os.PathLike[str],
        clock: Callable[[], int] | None = None,
        *,
        source: MarketDataSource | None = None,
    ) -> TradingBreakers:
        """Build from a dict or a TOML file (validated once; errors name the key path). ``{}``
        runs the standard set: market-wide index drop, VIX, venue halt and kill switch. The
        clock returns UNIX-epoch nanoseconds (default ``time.time_ns``)."""
        return cls(parse(cfg), clock=clock, source=source)

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> TradingBreakers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End every subscriber worker, the thread pool and the data source. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
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

    def _advance(self, now_ns: int) -> int:
        """The facade's time never goes backwards; the core breakers share it."""
        if now_ns > self._now_ns:
            self._now_ns = now_ns
            self._core_clock.set_ns(now_ns)
        return self._now_ns

    def _tick(self) -> int:
        return self._advance(self._clock())

    # -- evaluation --------------------------------------------------------------------------

    async def check(self, snapshot: MarketSnapshot) -> TradingStatus:
        """Evaluate every breaker at ``snapshot.timestamp`` and return the status."""
        self._live()
        if not isinstance(snapshot, MarketSnapshot):
            raise TypeError("check() takes a MarketSnapshot")
        now = self._advance(snapshot.now_ns)
        self._checks += 1
        for b in self._all:
            b.observe(snapshot, now)
            self._settle(b, now)
        return self.status()

    async def check_source(self) -> TradingStatus:
        """Fetch a snapshot from the configured source (at the facade clock's time) and check."""
        self._live()
        if self._source is None:
            raise RuntimeError("no MarketDataSource was given to this facade")
        now = datetime.fromtimestamp(self._clock() / NS, timezone.utc)
        return await self.check(await self._source.snapshot(now))

    def _settle(self, b: Breaker, now: int) -> None:
        """Publish `b`'s events and fold its state into the aggregate (O(1) unless the top
        risk fell)."""
        for kind, reason, value in b.drain():
            self._bus.publish(BreakerEvent(self._bus.next_seq(), kind, b.name, b.type, b.effect, now, reason, value))
        effect = b.effect if b.is_open else None
        previous = self._open.get(b.name)
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
        old, new = self._risk[b.name], b.risk
        if new != old:
            self._risk[b.name] = new
            if new >= self._risk_max:
                self._risk_max = new
            elif old == self._risk_max:
                self._risk_max = max(self._risk.values())
            self._status = None

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
            if state is TradingState.ACTIVE:
                message = "Trading active"
            else:
                verb = "halted" if state is TradingState.HALTED else "reducing"
                message = f"Trading {verb}: {', '.join(tripped)}"
                if halted:
                    message += f" ({', '.join(sorted(halted))})"
            self._status = TradingStatus(state, tripped, round(self._risk_max, 1), message, self._now_ns, halted)
        return self._status

    # -- feeding rate breakers ---------------------------------------------------------------

    def _rate(self, btype: BreakerType) -> tuple[Breaker, ...]:
        return self._by_type.get(btype, ())

    def _feed(self, btype: BreakerType, fn: Callable[[Any], None]) -> None:
        now = self._tick()
        for b in self._rate(btype):
            fn(b)
            b.observe(None, now)
            self._settle(b, now)

    def record_order_result(self, *, rejected: bool = False, latency: float | None = None) -> None:
        """An order's outcome: feeds the order-reject-rate breaker, the latency breaker (with
        ``latency`` in seconds) and the message-rate breaker."""
        self._live()
        self._feed(BreakerType.ORDER_REJECT_RATE, lambda b: b.record(not rejected))
        if latency is not None:
            self._feed(BreakerType.LATENCY, lambda b: b.record(True, latency))
        self._feed(BreakerType.MESSAGE_RATE, lambda b: b.count())

    def record_api_result(self, ok: bool) -> None:
        """A call to a venue or broker API: feeds the API-error-rate breaker."""
        self._live()
        self._feed(BreakerType.API_ERROR_RATE, lambda b: b.record(ok))

    def record_trade(self, pnl: float) -> None:
        """A closed trade: a loss extends the stop-loss streak, a win ends it."""
        self._live()
        self._feed(BreakerType.STOP_LOSS_STREAK, lambda b: b.record(pnl >= 0))

    def record_message(self) -> None:
        """A submit, modify or cancel sent: counted by the message-rate breaker."""
        self._live()
        self._feed(BreakerType.MESSAGE_RATE, lambda b: b.count())

    def record_fill(self) -> None:
        """A fill: counted by the execution throttle."""
        self._live()
        self._feed(BreakerType.EXECUTION_THROTTLE, lambda b: b.count())

    def heartbeat(self) -> None:
        """Tell heartbeat-watching kill switches the strategy is alive."""
        self._live()
        now = self._tick()
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

    def trip(self, name: str, reason: str = "") -> TradingStatus:
        """Open a breaker by hand (the kill switch, or any other)."""
        self._live()
        b = self.breaker(name)
        now = self._tick()
        b.trip(now, reason)
        b.observe(None, now) if isinstance(b, RateBreaker | CountBreaker) else None
        self._settle(b, now)
        return self.status()

    def reset(self, name: str, reason: str = "") -> TradingStatus:
        """Close a breaker by hand (latching ones need this)."""
        self._live()
        b = self.breaker(name)
        now = self._tick()
        b.reset(now, reason)
        b.observe(None, now) if isinstance(b, RateBreaker | CountBreaker) else None
        self._settle(b, now)
        return self.status()

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Subscription:
        """Deliver every event to ``fn`` (sync or async), through its own bounded queue, with a
        per-delivery timeout. Returns a handle; ``close()`` it to stop."""
        self._live()
        return self._bus.subscribe(fn)

    def history(self) -> tuple[BreakerEvent, ...]:
        """The most recent events, oldest first (at most ``history_size``)."""
        return tuple(self._bus.history)

    def statistics(self) -> dict[str, Any]:
        """Counters, all kept incrementally: O(1)."""
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
        }



