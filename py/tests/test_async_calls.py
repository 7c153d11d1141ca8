"""`call` refuses awaitables; `call_async` records the awaited outcome; timeouts and
cancellation."""

from __future__ import annotations

import asyncio
import functools

import pytest

import ringbreaker
from ringbreaker import State


def breaker(**kw: object) -> ringbreaker.CircuitBreaker:
    kw.setdefault("minimum_calls", 1)
    return ringbreaker.CircuitBreaker("async", clock=ringbreaker.ManualClock(), **kw)  # type: ignore[arg-type]


async def boom() -> None:
    await asyncio.sleep(0)
    raise ConnectionError("down")


def test_call_refuses_a_coroutine_function() -> None:
    cb = breaker()
    with pytest.raises(TypeError, match="call_async"):
        cb.call(boom)
    with pytest.raises(TypeError, match="call_async"):
        cb.call(functools.partial(boom))
    t = cb.metrics().totals
    assert (t.successes, t.failures, t.ignored) == (0, 0, 2)  # not calls
    assert cb.state is State.CLOSED


def test_call_refuses_a_sync_callable_that_returns_an_awaitable() -> None:
    cb = breaker()
    with pytest.raises(TypeError, match="awaitable"):
        cb.call(lambda: boom())  # a lambda returning a coroutine
    m = cb.metrics()
    assert (m.totals.successes, m.totals.failures, m.totals.ignored) == (0, 0, 1)

    @cb
    def sneaky() -> object:
        return boom()

    with pytest.raises(TypeError, match="call_async"):
        sneaky()


def test_call_async_records_the_real_outcome() -> None:
    cb = breaker()

    async def ok(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert asyncio.run(cb.call_async(ok, 21)) == 42
    assert cb.metrics().totals.successes == 1
    with pytest.raises(ConnectionError):
        asyncio.run(cb.call_async(boom))
    assert cb.metrics().totals.failures == 1
    assert cb.state is State.OPEN
    with pytest.raises(ringbreaker.CircuitOpenError):
        asyncio.run(cb.call_async(ok, 1))
    # a sync callable is accepted too
    cb.reset()
    assert asyncio.run(cb.call_async(lambda: 5)) == 5


def test_timeout_cancels_counts_a_failure_and_raises_circuit_timeout() -> None:
    cb = ringbreaker.CircuitBreaker("slow", minimum_calls=1, timeout=0.01)
    cancelled = []

    @cb
    async def hang() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(ringbreaker.CircuitTimeoutError) as info:
        asyncio.run(hang())
    assert isinstance(info.value, TimeoutError)
    assert info.value.breaker == "slow" and info.value.timeout == 0.01
    assert cancelled == [True]
    m = cb.metrics()
    assert m.totals.failures == 1
    assert m.totals.duration_count["failure"] == 1
    assert cb.state is State.OPEN


def test_timeout_error_raised_by_the_call_itself_is_classified_normally() -> None:
    cb = ringbreaker.CircuitBreaker("own", minimum_calls=1, timeout=5.0, ignore=(TimeoutError,))

    @cb
    async def own_timeout() -> None:
        raise TimeoutError("upstream said so")

    with pytest.raises(TimeoutError, match="upstream"):
        asyncio.run(own_timeout())
    assert cb.metrics().totals.ignored == 1


def test_external_cancellation_is_not_a_call_by_default() -> None:
    for failure_on, expect in (((Exception,), "ignored"), ((Exception, asyncio.CancelledError), "failure")):
        cb = ringbreaker.CircuitBreaker("cancel", minimum_calls=1, timeout=5.0, failure_on=failure_on)

        @cb
        async def hang() -> None:
            await asyncio.sleep(10)

        async def main() -> None:
            task = asyncio.create_task(hang())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        t = cb.metrics().totals
        assert (t.ignored, t.failures) == ((1, 0) if expect == "ignored" else (0, 1))


def test_sync_timeout_marks_a_call_slow() -> None:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker("sync", clock=clock, timeout=0.5, minimum_calls=1, slow_call_rate=1.0)
    assert cb.config.slow_call_duration == 0.5

    def slow() -> int:
        clock.advance(0.6)
        return 1

    assert cb.call(slow) == 1
    assert cb.metrics().totals.slow_calls == 1
    assert cb.state is State.OPEN
