"""Event delivery: bounded history, and per-subscriber bounded queues, each drained by its own
worker task, so a slow, raising or cancelling subscriber delays and loses nothing for the others.

* Each subscriber has its own queue (``subscriber_queue_size``; when full the oldest queued
  event gives way and the drop is counted for that subscriber) and its own worker task.
* A subscriber whose ``__call__`` is a coroutine function runs on the event loop; any other
  callable runs on the subscriber's own thread (one per synchronous subscriber, never shared),
  so a slow synchronous subscriber holds up only itself. Whatever either returns that is
  awaitable (a lambda returning a coroutine, an async callable object) is awaited.
* Each delivery has a timeout (``subscriber_timeout``). A subscriber that raises (including a
  ``CancelledError`` of its own) is logged once, with its traceback; later failures are only
  counted, and the count is in :meth:`TradingBreakers.statistics`.
* Workers start lazily (on the first event published inside a running loop, or on
  :meth:`EventBus.drain`) and are cancelled and awaited by :meth:`EventBus.close`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._model import BreakerEvent

_log = logging.getLogger("ringbreaker.trading")

Subscriber = Callable[[BreakerEvent], Awaitable[object] | object]


def _runs_on_loop(fn: Subscriber) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)
    return not inspect.isfunction(fn) and not inspect.ismethod(fn) and inspect.iscoroutinefunction(call)


def _name(fn: Subscriber) -> str:
    return str(getattr(fn, "__qualname__", None) or type(fn).__qualname__)


class Subscription:
    """Handle for one subscriber; :meth:`close` stops delivery and its worker. ``delivered``,
    ``dropped``, ``errors`` and ``timeouts`` count this subscriber's deliveries."""

    __slots__ = ("_bus", "fn", "name", "on_loop", "queue", "wake", "idle", "task", "executor", "delivered",
                 "dropped", "errors", "timeouts", "busy")

    def __init__(self, bus: EventBus, fn: Subscriber, queue_size: int) -> None:
        self._bus: EventBus | None = bus
        self.fn = fn
        self.name = _name(fn)
        self.on_loop = _runs_on_loop(fn)
        self.queue: deque[BreakerEvent] = deque(maxlen=queue_size)
        self.wake: asyncio.Event | None = None
        self.idle: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.delivered = self.dropped = self.errors = self.timeouts = 0
        self.busy = False

    @property
    def closed(self) -> bool:
        """Whether the subscription has been closed."""
        return self._bus is None

    def stats(self) -> dict[str, Any]:
        """This subscriber's counters."""
        return {"subscriber": self.name, "delivered": self.delivered, "dropped": self.dropped,
                "errors": self.errors, "timeouts": self.timeouts, "queued": len(self.queue)}

    def close(self) -> None:
        """Stop delivery; idempotent. Events still queued are discarded (and not counted as
        dropped: the subscriber asked to stop)."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus._remove(self)
        self.queue.clear()
        if self.task is not None and not self.task.done():
            self.task.cancel()
            # Python < 3.12's wait_for can swallow a cancellation that races with the
            # delivery finishing; the worker also checks `closed` whenever it wakes.
            if self.wake is not None:
                self.wake.set()
        if self.idle is not None:
            self.idle.set()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        if self.errors > 1 or self.timeouts > 1:
            _log.warning("subscriber %s closed after %d errors and %d timeouts", self.name, self.errors,
                         self.timeouts)


class EventBus:
    """History and subscribers of a facade."""

    def __init__(self, history_size: int, max_subscribers: int, queue_size: int, timeout: float) -> None:
        self.history: deque[BreakerEvent] = deque(maxlen=history_size)
        self._subs: list[Subscription] = []
        self._max_subscribers = max_subscribers
        self._queue_size = queue_size
        self._timeout = timeout
        self._seq = itertools.count(1)
        self._closed = False
        # statistics, kept as counters so reading them is O(1)
        self.published = 0
        self.by_kind: dict[str, int] = {}
        self.dropped = 0
        self.errors = 0
        self.timeouts = 0

    def next_seq(self) -> int:
        return next(self._seq)

    def restart(self) -> None:
        """Forget the history and restart numbering (for a replay from scratch); subscribers
        and their counters stay."""
        self.history.clear()
        self._seq = itertools.count(1)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def drops_by_name(self) -> dict[str, int]:
        """Each live subscriber's dropped events, summed by subscriber name (from any thread)."""
        out: dict[str, int] = {}
        for sub in tuple(self._subs):
            out[sub.name] = out.get(sub.name, 0) + sub.dropped
        return out

    def subscriber_stats(self) -> list[dict[str, Any]]:
        return [s.stats() for s in self._subs]

    def subscribe(self, fn: Subscriber) -> Subscription:
        if self._closed:
            raise RuntimeError("the facade is closed")
        if not callable(fn):
            raise TypeError("subscriber must be callable")
        if len(self._subs) >= self._max_subscribers:
            raise RuntimeError(f"too many subscribers (max_subscribers = {self._max_subscribers})")
        sub = Subscription(self, fn, self._queue_size)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        try:
            self._subs.remove(sub)
        except ValueError:
            pass

    def _start(self, sub: Subscription, loop: asyncio.AbstractEventLoop) -> None:
        if sub.task is None:
            sub.wake = asyncio.Event()
            sub.idle = asyncio.Event()
            sub.task = loop.create_task(self._worker(sub), name=f"ringbreaker-subscriber-{id(sub):x}")

    def publish(self, event: BreakerEvent) -> None:
        """Record and hand `event` to every subscriber without waiting for any of them."""
        self.history.append(event)
        self.published += 1
        self.by_kind[event.kind.value] = self.by_kind.get(event.kind.value, 0) + 1
        if not self._subs:
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for sub in self._subs:
            if len(sub.queue) == sub.queue.maxlen:
                sub.dropped += 1  # the oldest queued event gives way
                self.dropped += 1
                if sub.dropped == 1:
                    _log.warning("subscriber %s is %d events behind: dropping its oldest (counted in "
                                 "statistics()['subscribers_detail'])", sub.name, len(sub.queue))
            sub.queue.append(event)
            if loop is not None:
                self._start(sub, loop)
                assert sub.wake is not None and sub.idle is not None
                sub.idle.clear()
                sub.wake.set()

    async def drain(self) -> None:
        """Wait until every subscriber has handled (or timed out on) every queued event."""
        loop = asyncio.get_running_loop()
        for sub in list(self._subs):
            if sub.queue or sub.busy:
                self._start(sub, loop)
                assert sub.wake is not None and sub.idle is not None
                sub.idle.clear()
                sub.wake.set()
                await sub.idle.wait()

    async def _deliver(self, sub: Subscription, event: BreakerEvent) -> None:
        if sub.on_loop:
            result: object = sub.fn(event)
        else:
            if sub.executor is None:
                sub.executor = ThreadPoolExecutor(1, thread_name_prefix=f"ringbreaker-subscriber-{sub.name}"[:60])
            result = await asyncio.get_running_loop().run_in_executor(sub.executor, sub.fn, event)
        if inspect.isawaitable(result):
            await result

    async def _worker(self, sub: Subscription) -> None:
        assert sub.wake is not None and sub.idle is not None
        while True:
            while sub.queue and not sub.closed:
                event = sub.queue.popleft()
                sub.busy = True
                try:
                    await asyncio.wait_for(self._deliver(sub, event), self._timeout)
                    sub.delivered += 1
                except asyncio.TimeoutError:
                    sub.timeouts += 1
                    self.timeouts += 1
                    if sub.timeouts == 1:
                        _log.warning("subscriber %s timed out on event %d (after %g s); later timeouts are "
                                     "only counted", sub.name, event.seq, self._timeout)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    cancelling = getattr(task, "cancelling", None)
                    if sub.closed or self._closed or (cancelling is not None and cancelling()):
                        raise  # we are being closed
                    self._failed(sub, event)  # the subscriber raised CancelledError itself
                except Exception:
                    self._failed(sub, event)
                finally:
                    sub.busy = False
            if sub.closed:
                return
            sub.idle.set()
            sub.wake.clear()
            await sub.wake.wait()

    def _failed(self, sub: Subscription, event: BreakerEvent) -> None:
        sub.errors += 1
        self.errors += 1
        if sub.errors == 1:
            _log.exception("subscriber %s raised on event %d; later failures are only counted "
                           "(statistics()['subscribers_detail'])", sub.name, event.seq)

    async def close(self) -> None:
        """Cancel and await every worker, shut each thread down, drop the subscribers."""
        self._closed = True
        subs, self._subs = self._subs, []
        tasks: list[asyncio.Task[Any]] = []
        for sub in subs:
            task = sub.task
            sub.close()
            if task is not None:
                tasks.append(task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
