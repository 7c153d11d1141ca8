"""Event delivery: bounded history, and per-subscriber bounded queues drained by one worker
task per subscriber, so a slow or raising subscriber delays nobody.

Workers start lazily (on the first event after subscribing, inside the running loop) and are
cancelled and awaited by :meth:`EventBus.close`. Sync subscribers run in the bus's own small
thread pool so they cannot block the event loop; it is shut down on close (a sync callback
already running finishes on its thread, and nothing waits for it)."""

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


class Subscription:
    """Handle for one subscriber; :meth:`close` stops delivery and its worker."""

    __slots__ = ("_bus", "fn", "is_async", "queue", "wake", "task", "delivered", "dropped", "errors", "timeouts")

    def __init__(self, bus: EventBus, fn: Subscriber, queue_size: int) -> None:
        self._bus: EventBus | None = bus
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.queue: deque[BreakerEvent] = deque(maxlen=queue_size)
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.delivered = self.dropped = self.errors = self.timeouts = 0

    @property
    def closed(self) -> bool:
        """Whether the subscription has been closed."""
        return self._bus is None

    def close(self) -> None:
        """Stop delivery; idempotent. Events still queued are discarded."""
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


class EventBus:
    """History and subscribers of a facade."""

    def __init__(self, history_size: int, max_subscribers: int, queue_size: int, timeout: float) -> None:
        self.history: deque[BreakerEvent] = deque(maxlen=history_size)
        self._subs: list[Subscription] = []
        self._max_subscribers = max_subscribers
        self._queue_size = queue_size
        self._timeout = timeout
        self._seq = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        # statistics, kept as counters so reading them is O(1)
        self.published = 0
        self.by_kind: dict[str, int] = {}
        self.dropped = 0
        self.errors = 0
        self.timeouts = 0

    def next_seq(self) -> int:
        return next(self._seq)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

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
            sub.queue.append(event)
            if loop is not None:
                if sub.task is None:
                    sub.wake = asyncio.Event()
                    sub.task = loop.create_task(self._worker(sub), name=f"ringbreaker-subscriber-{id(sub):x}")
                assert sub.wake is not None
                sub.wake.set()

    async def _worker(self, sub: Subscription) -> None:
        assert sub.wake is not None
        loop = asyncio.get_running_loop()
        while True:
            while sub.queue:
                event = sub.queue.popleft()
                try:
                    if sub.is_async:
                        await asyncio.wait_for(sub.fn(event), self._timeout)  # type: ignore[arg-type]
                    else:
                        if self._executor is None:
                            self._executor = ThreadPoolExecutor(4, thread_name_prefix="ringbreaker-subscriber")
                        await asyncio.wait_for(loop.run_in_executor(self._executor, sub.fn, event), self._timeout)
                    sub.delivered += 1
                except asyncio.TimeoutError:
                    sub.timeouts += 1
                    self.timeouts += 1
                    _log.warning("subscriber %r timed out on event %d", sub.fn, event.seq)
                except Exception:
                    sub.errors += 1
                    self.errors += 1
                    _log.exception("subscriber %r raised on event %d", sub.fn, event.seq)
            if sub.closed:
                return
            sub.wake.clear()
            await sub.wake.wait()

    async def close(self) -> None:
        """Cancel and await every worker, shut the thread pool down, drop the subscribers."""
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
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
