"""Listeners and per-call hooks: async listeners run on the loop, raising or slow listeners
affect nothing else."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import ringbreaker
from ringbreaker import State


def test_async_listener_is_refused_without_a_running_loop() -> None:
    cb = ringbreaker.CircuitBreaker("noloop")

    async def listener(t: ringbreaker.Transition) -> None:
        pass

    with pytest.raises(TypeError, match="running event loop"):
        cb.subscribe(listener)
    with pytest.raises(TypeError, match="running event loop"):
        cb.subscribe_calls(listener)  # type: ignore[arg-type]


def test_async_listener_is_awaited_on_the_running_loop() -> None:
    cb = ringbreaker.CircuitBreaker("loop", minimum_calls=1)
    seen: list[tuple[State, asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        async def listener(t: ringbreaker.Transition) -> None:
            await asyncio.sleep(0)
            seen.append((t.to_state, asyncio.get_running_loop()))

        cb.subscribe(listener)
        cb.trip()
        await asyncio.sleep(0.01)
        assert seen == [(State.OPEN, asyncio.get_running_loop())]

    asyncio.run(main())


def test_async_listener_from_a_thread_without_a_loop_runs_on_its_loop() -> None:
    cb = ringbreaker.CircuitBreaker("thread")
    seen: list[State] = []

    async def main() -> None:
        done = asyncio.Event()

        async def listener(t: ringbreaker.Transition) -> None:
            seen.append(t.to_state)
            done.set()

        cb.subscribe(listener)
        th = threading.Thread(target=cb.trip)
        th.start()
        th.join()
        await asyncio.wait_for(done.wait(), 5)

    asyncio.run(main())
    assert seen == [State.OPEN]


def test_raising_and_slow_listeners_affect_nothing_else(caplog: pytest.LogCaptureFixture) -> None:
    cb = ringbreaker.CircuitBreaker("robust", minimum_calls=1)
    order: list[str] = []

    def bad(t: ringbreaker.Transition) -> None:
        order.append("bad")
        raise RuntimeError("listener bug")

    def good(t: ringbreaker.Transition) -> None:
        order.append("good")

    async def main() -> None:
        release = asyncio.Event()

        async def slow(t: ringbreaker.Transition) -> None:
            order.append("slow-start")
            await release.wait()
            order.append("slow-end")

        async def fast(t: ringbreaker.Transition) -> None:
            order.append("fast")

        cb.subscribe(bad)
        cb.subscribe(slow)
        cb.subscribe(fast)
        cb.subscribe(good)
        with caplog.at_level(logging.ERROR, logger="ringbreaker"):

            def boom() -> None:
                raise ConnectionError

            with pytest.raises(ConnectionError):  # the call's own error, not the listener's
                cb.call(boom)
        assert cb.state is State.OPEN
        await asyncio.sleep(0.01)
        # the slow one is still waiting; the others have all run
        assert order == ["bad", "good", "slow-start", "fast"]
        release.set()
        await asyncio.sleep(0.01)
        assert order[-1] == "slow-end"

    asyncio.run(main())
    assert "listener bug" in caplog.text


def test_call_hooks_see_every_call() -> None:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker(
        "hooks", clock=clock, minimum_calls=3, failure_rate=0.6, time_calls=True, ignore=(KeyError,)
    )
    events: list[ringbreaker.CallEvent] = []
    sub = cb.subscribe_calls(events.append)

    def ok() -> int:
        clock.advance(0.25)
        return 1

    def fail() -> None:
        raise ConnectionError

    def ignored() -> None:
        raise KeyError

    cb.call(ok)
    with pytest.raises(KeyError):
        cb.call(ignored)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            cb.call(fail)
    with pytest.raises(ringbreaker.CircuitOpenError):
        cb.call(ok)
    kinds = [e.kind for e in events]
    assert kinds == [
        "before_call", "success",
        "before_call", "ignored",
        "before_call", "failure",
        "before_call", "failure",
        "not_permitted",
    ]  # fmt: skip
    assert events[1].duration == 0.25 and events[1].breaker == "hooks"
    assert isinstance(events[5].exception, ConnectionError)
    assert isinstance(events[-1].exception, ringbreaker.CircuitOpenError)
    sub.close()
    cb.reset()
    cb.call(ok)
    assert len(events) == 9


def test_call_hook_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    cb = ringbreaker.CircuitBreaker("hookerr")

    def hook(e: ringbreaker.CallEvent) -> None:
        raise ValueError("hook bug")

    cb.subscribe_calls(hook)
    with caplog.at_level(logging.ERROR, logger="ringbreaker"):
        assert cb.call(lambda: 7) == 7
    assert "hook bug" in caplog.text
