"""Each wrapped call owns its permit, whatever order its frames resume in; `with` blocks exited
out of order raise a clear error and lose neither permit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

import ringbreaker
from ringbreaker import State


def half_open(name: str, permits: int) -> tuple[ringbreaker.CircuitBreaker, ringbreaker.ManualClock]:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker(name, clock=clock, open_duration=1.0, half_open_permits=permits)
    cb.trip()
    clock.advance(1.0)
    assert cb.state is State.HALF_OPEN
    return cb, clock


def test_zip_of_two_generators_of_one_breaker_each_own_a_trial() -> None:
    cb, _ = half_open("zip", 2)

    @cb
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    # a finishes first although b was entered last: a stack of permits would pair a's
    # outcome with b's permit (or raise).
    a, b = numbers(2), numbers(3)
    assert list(zip(a, b, strict=False)) == [(0, 0), (1, 1)]
    # zip stopped b early: b is still suspended, holding the second trial.
    assert cb.state is State.HALF_OPEN
    assert cb.metrics().totals.successes == 1
    with pytest.raises(ringbreaker.CircuitOpenError):
        cb.try_acquire()
    b.close()  # GeneratorExit: not a call, its trial is handed back
    assert cb.metrics().totals.ignored == 1
    p = cb.try_acquire()
    cb.record(p, True)
    assert cb.state is State.CLOSED


def test_interleaved_generators_record_their_own_outcomes() -> None:
    ok_cb, _ = half_open("ok", 1)
    bad_cb, _ = half_open("bad", 1)

    @ok_cb
    def fine() -> Iterator[int]:
        yield 1
        yield 2

    @bad_cb
    def broken() -> Iterator[int]:
        yield 1
        raise ConnectionError("down")

    a, b = fine(), broken()
    assert next(a) == 1 and next(b) == 1
    assert next(a) == 2
    with pytest.raises(ConnectionError):
        next(b)
    with pytest.raises(StopIteration):
        next(a)
    assert ok_cb.state is State.CLOSED  # its trial succeeded
    assert bad_cb.state is State.OPEN  # its trial failed
    assert ok_cb.metrics().totals.successes == 1 and bad_cb.metrics().totals.failures == 1


def test_one_breaker_interleaved_generators_close_half_open() -> None:
    cb, _ = half_open("one", 2)

    @cb
    def gen(tag: str) -> Iterator[str]:
        yield tag
        yield tag

    a, b = gen("a"), gen("b")
    next(a), next(b)  # both trials out
    assert list(a) == ["a"]  # a finishes first
    assert cb.state is State.HALF_OPEN
    assert list(b) == ["b"]
    assert cb.state is State.CLOSED
    assert cb.metrics().totals.successes == 2


def test_generator_return_value_send_and_throw_pass_through() -> None:
    cb = ringbreaker.CircuitBreaker("send")

    @cb
    def echo() -> Iterator[object]:
        got = yield "ready"
        while got != "stop":
            try:
                got = yield got
            except KeyError:
                got = yield "caught"
        return "done"

    g = echo()
    assert next(g) == "ready"
    assert g.send(1) == 1
    assert g.throw(KeyError()) == "caught"
    with pytest.raises(StopIteration) as stop:
        g.send("stop")
    assert stop.value.value == "done"
    assert cb.metrics().totals.successes == 1


def test_async_generator_advanced_from_other_tasks_owns_its_permit() -> None:
    cb, _ = half_open("agen", 1)

    @cb
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        agen = ticks(3)
        out = []
        while True:
            try:
                # each step runs in a fresh task, with its own copy of the context
                out.append(await asyncio.create_task(agen.__anext__()))  # type: ignore[arg-type]
            except StopAsyncIteration:
                return out

    assert asyncio.run(main()) == [0, 1, 2]
    assert cb.state is State.CLOSED  # the trial was recorded, not lost
    assert cb.metrics().totals.successes == 1


def test_async_generators_interleaved_on_one_breaker() -> None:
    cb, _ = half_open("agens", 2)

    @cb
    async def gen(tag: str) -> AsyncIterator[str]:
        yield tag
        yield tag

    async def main() -> None:
        a, b = gen("a"), gen("b")
        await a.__anext__()
        await b.__anext__()
        assert [x async for x in a] == ["a"]
        assert cb.state is State.HALF_OPEN
        assert [x async for x in b] == ["b"]

    asyncio.run(main())
    assert cb.state is State.CLOSED


def test_async_generator_asend_athrow_and_failure() -> None:
    cb = ringbreaker.CircuitBreaker("athrow", minimum_calls=1)

    @cb
    async def echo() -> AsyncIterator[object]:
        got = yield "ready"
        try:
            got = yield got
        except KeyError:
            yield "caught"
        raise ConnectionError("gone")

    async def main() -> None:
        g = echo()
        assert await g.__anext__() == "ready"
        assert await g.asend(5) == 5
        assert await g.athrow(KeyError()) == "caught"
        with pytest.raises(ConnectionError):
            await g.__anext__()

    asyncio.run(main())
    assert cb.metrics().totals.failures == 1
    assert cb.state is State.OPEN


def test_with_blocks_exited_out_of_order_raise_and_keep_both_permits() -> None:
    cb, _ = half_open("blocks", 2)

    def gen(tag: str) -> Iterator[str]:
        with cb:
            yield tag
            yield tag

    a, b = gen("a"), gen("b")
    next(a), next(b)  # a's block entered first, b's second, in one context
    with pytest.raises(RuntimeError, match="out of order") as info:
        list(a)  # a's block exits while b's is still open
    assert "Decorate" in str(info.value)
    assert cb.metrics().totals.successes == 1  # a's outcome, with a's own permit
    assert list(b) == ["b"]  # b's block still has its permit
    assert cb.metrics().totals.successes == 2
    assert cb.state is State.CLOSED


def test_with_block_in_exit_stack_still_works() -> None:
    import contextlib

    cb = ringbreaker.CircuitBreaker("stack")
    with contextlib.ExitStack() as stack:
        stack.enter_context(cb)
        stack.enter_context(cb)
    assert cb.metrics().totals.successes == 2


def test_nested_with_blocks_of_two_breakers() -> None:
    a = ringbreaker.CircuitBreaker("a", minimum_calls=1)
    b = ringbreaker.CircuitBreaker("b", minimum_calls=1)
    with pytest.raises(ConnectionError):
        with a:
            with b:
                raise ConnectionError
    assert a.state is State.OPEN and b.state is State.OPEN


def test_async_with_block_exited_in_another_task_keeps_its_permit() -> None:
    cb, _ = half_open("tasks", 1)

    async def agen() -> AsyncIterator[int]:  # not decorated: the block is the user's own
        async with cb:
            yield 1

    async def main() -> None:
        g = agen()
        assert await asyncio.create_task(g.__anext__()) == 1  # type: ignore[arg-type]
        with pytest.raises(StopAsyncIteration):
            await asyncio.create_task(g.__anext__())  # type: ignore[arg-type]

    asyncio.run(main())
    assert cb.state is State.CLOSED  # the trial was recorded with its own permit
    assert not cb._async_blocks


def test_async_with_blocks_out_of_order_in_one_task() -> None:
    cb, _ = half_open("atasks", 2)

    async def agen(tag: str) -> AsyncIterator[str]:
        async with cb:
            yield tag

    async def main() -> None:
        a, b = agen("a"), agen("b")
        await a.__anext__()
        await b.__anext__()
        with pytest.raises(RuntimeError, match="out of order"):
            await a.__anext__()
        assert cb.metrics().totals.successes == 1
        with pytest.raises(StopAsyncIteration):
            await b.__anext__()

    asyncio.run(main())
    assert cb.state is State.CLOSED


def test_async_exit_stack_and_nested_async_with() -> None:
    import contextlib

    cb = ringbreaker.CircuitBreaker("astack")

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(cb)
            await stack.enter_async_context(cb)
        async with cb:
            async with cb:
                pass

    asyncio.run(main())
    assert cb.metrics().totals.successes == 4
    assert not cb._async_blocks
