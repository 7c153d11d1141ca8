"""The native fast paths: the sync wrapper's lean path (Closed permit without a clock read,
coarse-clock success stamp), the rejection raised from its argument tuple, and the native
awaitable a decorated coroutine function returns. Each must count, deliver and raise exactly
what the general path does."""

from __future__ import annotations

import asyncio
import inspect
import pickle
from typing import Any

import pytest

import ringbreaker
from ringbreaker import CircuitOpenError, State
from ringbreaker._native import GuardedCall


def counts(cb: ringbreaker.CircuitBreaker) -> tuple[int, int, int, int]:
    t = cb.metrics().totals
    return (t.calls, t.successes, t.failures, t.ignored)


# ---- sync: the lean path ----------------------------------------------------------------------


def test_lean_sync_path_counts_every_outcome_once_in_totals_and_window() -> None:
    cb = ringbreaker.CircuitBreaker("lean", minimum_calls=1000, ignore=(KeyError,))

    @cb
    def f(x: int) -> int:
        if x == 1:
            raise ValueError("failure")
        if x == 2:
            raise KeyError("ignored")
        return x

    for _ in range(50):
        assert f(0) == 0
    for x in (1, 2):
        with pytest.raises((ValueError, KeyError)):
            f(x)
    assert cb.call(abs, -3) == 3  # call() takes the same native path
    assert counts(cb) == (53, 51, 1, 1)
    m = cb.metrics()
    assert (m.calls, m.successes, m.failures) == (52, 51, 1)  # the window saw the same calls


def test_lean_sync_path_delivers_events_when_a_hook_is_subscribed() -> None:
    cb = ringbreaker.CircuitBreaker("hooks")
    g = cb(lambda: 7)
    assert g() == 7  # no hook: lean path
    events: list[str] = []
    sub = cb.subscribe_calls(lambda e: events.append(e.kind))
    assert g() == 7
    sub.close()
    assert g() == 7
    assert events == ["before_call", "success"]
    assert counts(cb) == (3, 3, 0, 0)


def test_lean_sync_path_fires_listeners_on_the_trip_it_causes() -> None:
    seen: list[ringbreaker.Transition] = []
    cb = ringbreaker.CircuitBreaker("trip", minimum_calls=2, failure_rate=0.5, open_duration=3600)
    cb.subscribe(seen.append)

    @cb
    def f(fail: bool) -> None:
        if fail:
            raise ConnectionError("down")

    f(False)
    with pytest.raises(ConnectionError):
        f(True)
    assert [(t.from_state, t.to_state, t.reason) for t in seen] == [(State.CLOSED, State.OPEN, "failure_rate")]
    with pytest.raises(CircuitOpenError):
        f(False)
    assert cb.metrics().totals.rejected == 1


def test_timed_breakers_still_time_and_count_slow_calls() -> None:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker("slow", slow_call_duration=1.0, minimum_calls=100, clock=clock)

    @cb
    def slow() -> int:
        clock.advance(2.0)
        return 1

    @cb
    def fast() -> int:
        return 1

    slow()
    fast()
    t = cb.metrics().totals
    assert (t.successes, t.slow_calls, t.duration_count["success"]) == (2, 1, 2)
    assert t.duration_sum["success"] == pytest.approx(2.0)


def test_failure_when_and_a_callable_clock_take_the_general_path_with_the_same_counts() -> None:
    ticks = iter(range(0, 10**12, 1000))
    cb = ringbreaker.CircuitBreaker(
        "general", failure_when=lambda r: r is None, clock=lambda: next(ticks), minimum_calls=100
    )
    g = cb(lambda x: x)
    g(1)
    g(None)
    assert counts(cb) == (2, 1, 1, 0)


def test_the_sync_wrapper_refuses_an_awaitable_on_the_lean_path() -> None:
    cb = ringbreaker.CircuitBreaker("refuse")

    async def coro() -> int:
        return 1

    g = cb(lambda: coro())
    with pytest.raises(TypeError, match="awaitable"):
        g()
    assert counts(cb) == (1, 0, 0, 1)


# ---- the rejection ----------------------------------------------------------------------------


def rejection_of(fn: Any) -> CircuitOpenError:
    with pytest.raises(CircuitOpenError) as info:
        fn()
    return info.value


def test_native_rejection_is_the_same_exception_as_the_general_paths() -> None:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker("rej", open_duration=10.0, clock=clock)
    cb.trip()
    clock.advance(4.0)
    lean = rejection_of(cb(lambda: 1))  # the decorator's lean path
    general = rejection_of(cb.try_acquire)  # pyo3's error path
    for e in (lean, general):
        assert type(e) is CircuitOpenError
        assert e.args == ("rej", State.OPEN, 6.0)
        assert type(e.args[1]) is State and type(e.args[2]) is float
        assert (e.breaker, e.state, e.retry_after) == ("rej", State.OPEN, 6.0)
        assert str(e) == "circuit breaker 'rej' is OPEN; retry after 6.000 s"
        assert e.__traceback__ is not None
        copy = pickle.loads(pickle.dumps(e))
        assert type(copy) is CircuitOpenError and copy.args == e.args
    assert cb.metrics().totals.rejected == 2


def test_native_rejection_of_a_forced_open_breaker_carries_no_retry() -> None:
    cb = ringbreaker.CircuitBreaker("forced")
    cb.force_open()
    e = rejection_of(cb(lambda: 1))
    assert e.args == ("forced", State.FORCED_OPEN, None)
    assert e.retry_after is None


def test_native_rejection_inside_an_except_block_chains_like_any_raise() -> None:
    cb = ringbreaker.CircuitBreaker("chain")
    cb.trip()
    g = cb(lambda: 1)
    try:
        raise KeyError("outer")
    except KeyError as outer:
        e = rejection_of(g)
        assert e.__context__ is outer


def test_rejection_with_a_hook_delivers_the_raised_exception() -> None:
    cb = ringbreaker.CircuitBreaker("hooked")
    cb.trip()
    got: list[ringbreaker.CallEvent] = []
    cb.subscribe_calls(got.append)
    e = rejection_of(cb(lambda: 1))
    assert [ev.kind for ev in got] == ["not_permitted"]
    assert got[0].exception is e


def test_the_first_call_after_the_open_period_is_a_trial_on_the_lean_path() -> None:
    clock = ringbreaker.ManualClock()
    seen: list[tuple[State, State]] = []
    cb = ringbreaker.CircuitBreaker("trial", open_duration=1.0, clock=clock)
    cb.subscribe(lambda t: seen.append((t.from_state, t.to_state)))
    cb.trip()
    g = cb(lambda: 5)
    clock.advance(1.0)
    assert g() == 5
    assert seen == [(State.CLOSED, State.OPEN), (State.OPEN, State.HALF_OPEN), (State.HALF_OPEN, State.CLOSED)]


# ---- async: the native awaitable ----------------------------------------------------------------


def test_a_decorated_coroutine_function_returns_a_native_awaitable_and_stays_one() -> None:
    cb = ringbreaker.CircuitBreaker("aw")

    @cb
    async def f(x: int, *, y: int = 1) -> int:
        await asyncio.sleep(0)
        return x + y

    assert inspect.iscoroutinefunction(f)
    assert asyncio.iscoroutinefunction(f)
    assert str(inspect.signature(f)) == "(x: 'int', *, y: 'int' = 1) -> 'int'"
    call = f(1, y=2)
    assert isinstance(call, GuardedCall)
    assert asyncio.iscoroutine(call)  # asyncio accepts it as a coroutine (tasks, run)
    assert counts(cb) == (0, 0, 0, 0)  # nothing happens until it is awaited
    assert asyncio.run(call) == 3
    assert counts(cb) == (1, 1, 0, 0)


def test_native_awaitable_records_failures_ignored_and_rejections() -> None:
    cb = ringbreaker.CircuitBreaker("aw2", minimum_calls=2, open_duration=3600, ignore=(KeyError,))

    @cb
    async def f(exc: BaseException | None) -> str:
        await asyncio.sleep(0)
        if exc is not None:
            raise exc
        return "ok"

    async def main() -> None:
        assert await f(None) == "ok"
        with pytest.raises(KeyError):
            await f(KeyError("ignored"))
        with pytest.raises(ValueError):
            await f(ValueError("fails"))
        assert cb.state is State.OPEN
        with pytest.raises(CircuitOpenError):
            await f(None)

    asyncio.run(main())
    t = cb.metrics().totals
    assert (t.successes, t.failures, t.ignored, t.rejected) == (1, 1, 1, 1)


def test_native_awaitable_cancellation_is_not_a_call_and_propagates() -> None:
    cb = ringbreaker.CircuitBreaker("cancel")

    @cb
    async def hang() -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(hang())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert counts(cb) == (1, 0, 0, 1)


def test_native_awaitable_returns_tuples_exceptions_and_none_as_values() -> None:
    cb = ringbreaker.CircuitBreaker("values")
    err = ValueError("a value, not raised")

    @cb
    async def give(v: object) -> object:
        return v

    async def main() -> None:
        assert await give((1, 2)) == (1, 2)
        assert await give(()) == ()
        assert await give(err) is err
        assert await give(None) is None

    asyncio.run(main())
    assert counts(cb) == (4, 4, 0, 0)


def test_native_awaitable_driven_by_hand_like_a_coroutine() -> None:
    cb = ringbreaker.CircuitBreaker("hand")

    class Yielding:
        def __await__(self) -> Any:
            sent = yield "first"
            return sent * 2

    @cb
    async def f() -> Any:
        return await Yielding()

    call = f()
    with pytest.raises(TypeError, match="non-None"):
        call.send(1)  # not started: refused, still startable
    assert call.send(None) == "first"
    with pytest.raises(StopIteration) as stop:
        call.send(21)
    assert stop.value.value == 42
    with pytest.raises(RuntimeError, match="already awaited"):
        call.send(None)
    assert counts(cb) == (1, 1, 0, 0)

    thrown = f()
    assert thrown.send(None) == "first"
    with pytest.raises(ZeroDivisionError):
        thrown.throw(ZeroDivisionError("thrown in"))
    assert counts(cb) == (2, 1, 1, 0)

    closed = f()
    assert closed.send(None) == "first"
    closed.close()
    closed.close()  # idempotent
    assert counts(cb) == (3, 1, 1, 1)

    never = f()
    never.close()
    with pytest.raises(KeyError):
        f().throw(KeyError("before the start"))
    del never
    assert counts(cb) == (3, 1, 1, 1)  # never started: no permit, nothing recorded


def test_native_awaitable_dropped_mid_await_records_not_a_call() -> None:
    cb = ringbreaker.CircuitBreaker("drop")

    class Pending:
        def __await__(self) -> Any:
            yield "wait"

    @cb
    async def f() -> None:
        await Pending()

    call = f()
    assert call.send(None) == "wait"
    del call
    assert counts(cb) == (1, 0, 0, 1)


def test_native_awaitable_of_a_non_awaitable_fails_like_await() -> None:
    cb = ringbreaker.CircuitBreaker("notaw", minimum_calls=100)

    class Sneaky:
        async def __call__(self) -> int:
            return 1

    def plain() -> int:
        return 1

    g = ringbreaker._native.GuardedAsync(cb._cb, plain)
    with pytest.raises(TypeError, match="can't be used in 'await' expression"):
        asyncio.run(g())
    assert counts(cb) == (1, 0, 1, 0)  # a failure, as `await plain()` raising TypeError was
    assert asyncio.run(cb(Sneaky())()) == 1


def test_native_awaitable_predicate_error_is_raised_with_the_call_error_as_context() -> None:
    def bad(exc: BaseException) -> bool:
        raise RuntimeError("predicate broke")

    cb = ringbreaker.CircuitBreaker("pred", failure_on=(bad,), minimum_calls=100)

    @cb
    async def f() -> None:
        raise ValueError("call")

    with pytest.raises(RuntimeError, match="predicate broke") as info:
        asyncio.run(f())
    assert isinstance(info.value.__context__, ValueError)
    assert counts(cb) == (1, 0, 1, 0)


def test_native_awaitable_binds_as_a_method_and_pickles_by_name() -> None:
    cb = ringbreaker.CircuitBreaker("method")

    class Svc:
        @cb
        async def get(self, x: int) -> int:
            return x + 1

    assert asyncio.run(Svc().get(1)) == 2
    assert inspect.iscoroutinefunction(Svc().get)
    assert pickle.loads(pickle.dumps(module_level)) is module_level


cb_module = ringbreaker.CircuitBreaker("module-level")


@cb_module
async def module_level() -> int:
    return 1


# ---- call(): the native breaker's own method ----------------------------------------------------


def test_call_is_the_native_call_and_keeps_its_arguments_and_fallback() -> None:
    cb = ringbreaker.CircuitBreaker("call")
    assert cb.call(lambda fn, func: (fn, func), fn=1, func=2) == (1, 2)  # keywords pass through
    assert cb.call(divmod, 7, 2) == (3, 1)
    with pytest.raises(TypeError):
        cb.call()  # type: ignore[call-arg]
    assert counts(cb) == (2, 2, 0, 0)
    fb = ringbreaker.CircuitBreaker("call-fb", fallback=lambda *a, **k: ("fallback", a, k))
    fb.force_open()
    assert fb.call(abs, -1, key=2) == ("fallback", (-1,), {"key": 2})
    assert fb.metrics().totals.rejected == 1


def test_call_of_a_shared_breaker_records_on_the_shared_region(tmp_path: Any) -> None:
    path = tmp_path / "region"
    a = ringbreaker.shared("call-shared", path=path)
    b = ringbreaker.shared("call-shared", path=path)
    try:
        assert a.call(lambda: 1) == 1
        a.force_open()
        with pytest.raises(CircuitOpenError):
            b.call(lambda: 1)  # b sees a's state: its call() is bound to the shared breaker
        assert a.metrics().totals.successes == 1
    finally:
        a.unlink()


def test_narrow_buckets_stamp_successes_with_the_precise_clock() -> None:
    # 100 µs buckets, a 1 ms window: a coarse stamp (a 1-4 ms tick old) would put the success
    # outside the window read right after the call, so the lean path must read the precise
    # clock here. Preemption between the call and the read can still push one out: most, not
    # all, must be seen.
    seen = 0
    for i in range(200):
        cb = ringbreaker.CircuitBreaker(f"narrow{i}", window=0.001, buckets=10, minimum_calls=10**6)

        @cb
        def ok() -> None:
            return None

        ok()
        seen += cb.metrics().calls
    assert seen >= 100, f"only {seen} of 200 successes were in the window right after their call"
