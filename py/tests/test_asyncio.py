"""asyncio: the half-open stampede, and the cancellation policy."""

from __future__ import annotations

import asyncio

import pytest

import ringbreaker


def make(permits: int, clock: ringbreaker.ManualClock, **kw: object) -> ringbreaker.CircuitBreaker:
    return ringbreaker.CircuitBreaker(
        "async",
        minimum_calls=1,
        open_duration=5.0,
        half_open_permits=permits,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("permits", [1, 3])
def test_half_open_stampede_admits_exactly_the_permits(permits: int) -> None:
    clock = ringbreaker.ManualClock()
    cb = make(permits, clock)
    ran = 0

    @cb
    async def guarded() -> None:
        nonlocal ran
        ran += 1
        await asyncio.sleep(0.01)

    async def main() -> list[BaseException | None]:
        cb.trip("test")
        clock.advance(5.0)

        async def one() -> BaseException | None:
            try:
                await guarded()
                return None
            except ringbreaker.CircuitOpenError as e:
                return e

        return await asyncio.gather(*(one() for _ in range(50)))

    loop = asyncio.new_event_loop()
    try:
        results = loop.run_until_complete(main())
    finally:
        loop.close()
    assert ran == permits
    rejected = [r for r in results if r is not None]
    assert len(rejected) == 50 - permits
    assert all(isinstance(r, ringbreaker.CircuitOpenError) and r.state is ringbreaker.State.HALF_OPEN for r in rejected)
    assert cb.state is ringbreaker.State.CLOSED  # the trials succeeded


def test_rejections_are_immediate() -> None:
    clock = ringbreaker.ManualClock()
    cb = make(1, clock)
    cb.trip()
    entered = False

    @cb
    async def guarded() -> None:
        nonlocal entered
        entered = True

    with pytest.raises(ringbreaker.CircuitOpenError) as info:
        asyncio.run(guarded())
    assert not entered
    assert info.value.retry_after == pytest.approx(5.0)


def test_cancellation_is_not_a_failure_by_default() -> None:
    clock = ringbreaker.ManualClock()
    cb = make(1, clock)

    @cb
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    m = cb.metrics()
    assert (m.calls, m.state) == (0, ringbreaker.State.CLOSED)


def test_cancelled_trial_hands_its_permit_back() -> None:
    clock = ringbreaker.ManualClock()
    cb = make(1, clock)

    @cb
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        cb.trip()
        clock.advance(5.0)
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        assert cb.state is ringbreaker.State.HALF_OPEN
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the trial permit is free again: another caller gets it
        async with cb:
            pass

    asyncio.run(main())
    assert cb.state is ringbreaker.State.CLOSED


def test_cancellation_counts_as_failure_when_configured() -> None:
    clock = ringbreaker.ManualClock()
    cb = make(1, clock, failure_on=(Exception, asyncio.CancelledError))

    @cb
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cb.metrics().failures == 1
    assert cb.state is ringbreaker.State.OPEN


def test_async_generator_is_guarded_as_one_call() -> None:
    cb = ringbreaker.CircuitBreaker("agen", minimum_calls=1)

    @cb
    async def ticks(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield i

    async def main() -> list[int]:
        return [i async for i in ticks(3)]

    assert asyncio.run(main()) == [0, 1, 2]
    assert cb.metrics().successes == 1

    @cb
    async def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise ConnectionError

    async def drain() -> None:
        async for _ in broken():
            pass

    with pytest.raises(ConnectionError):
        asyncio.run(drain())
    assert cb.state is ringbreaker.State.OPEN


def test_coroutine_wrapper_records_timed_and_untimed_calls() -> None:
    clock = ringbreaker.ManualClock()
    untimed = ringbreaker.CircuitBreaker("untimed", clock=clock)
    timed = ringbreaker.CircuitBreaker("timed", clock=clock, slow_call_duration=1.0, minimum_calls=100)

    async def slow() -> int:
        clock.advance(2.0)
        return 7

    async def fails() -> int:
        raise ValueError("down")

    async def main() -> None:
        for cb in (untimed, timed):
            assert await cb(slow)() == 7
            with pytest.raises(ValueError):
                await cb(fails)()

    asyncio.run(main())
    u, t = untimed.metrics(), timed.metrics()
    assert (u.successes, u.failures, u.slow_calls) == (1, 1, 0)
    assert (t.successes, t.failures, t.slow_calls) == (1, 1, 1), "the timed path measured the 2 s call"


def test_permits_are_checked() -> None:
    cb = ringbreaker.CircuitBreaker("tokens")
    other = ringbreaker.CircuitBreaker("other", slow_call_duration=1.0)
    with pytest.raises(ringbreaker.ForeignPermitError):
        cb.record(other.try_acquire(), True)
    with pytest.raises(TypeError):
        cb.record("not a permit", True)  # type: ignore[arg-type]
    p = cb.try_acquire()
    cb.record(p, True)
    with pytest.raises(ringbreaker.PermitReusedError, match="already recorded"):
        cb.record(p, False)
    assert cb.metrics().totals.calls == 1


def test_decorated_coroutine_function_is_still_one() -> None:
    # Frameworks decide whether to await a handler by this check; the wrapper must keep it.
    import inspect

    cb = ringbreaker.CircuitBreaker("inspect")

    @cb
    async def handler() -> int:
        return 1

    assert inspect.iscoroutinefunction(handler)
    assert asyncio.run(handler()) == 1
