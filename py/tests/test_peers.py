"""What users of pybreaker, circuitbreaker, aiobreaker and Resilience4j expect: fallbacks,
result and exception predicates, pickling, cumulative totals, help()."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import pickle
import pydoc

import _workers
import pytest

import ringbreaker
from ringbreaker import State


def test_fallback_value_and_callable_sync() -> None:
    cb = ringbreaker.CircuitBreaker("fb", fallback="cached")
    cb.force_open()
    assert cb.call(lambda: "live") == "cached"

    calls: list[tuple[object, ...]] = []

    def alternative(*args: object, **kwargs: object) -> str:
        calls.append((args, kwargs))
        return "alt"

    cb2 = ringbreaker.CircuitBreaker("fb2", fallback=alternative)

    @cb2
    def fetch(key: str, *, fresh: bool = False) -> str:
        raise ConnectionError

    with pytest.raises(ConnectionError):  # failures raise unless fallback_on_failure
        fetch("k")
    cb2.force_open()
    assert fetch("k", fresh=True) == "alt"
    assert calls == [(("k",), {"fresh": True})]


def test_fallback_on_failure_and_async() -> None:
    async def alternative(x: int) -> int:
        return -x

    async def main() -> None:
        cb = ringbreaker.CircuitBreaker("afb", fallback=alternative, fallback_on_failure=True, ignore=(KeyError,))

        @cb
        async def fetch(x: int) -> int:
            if x == 0:
                raise KeyError(x)
            raise ConnectionError

        assert await fetch(3) == -3  # failure → fallback
        with pytest.raises(KeyError):  # ignored exceptions are not failures: raised
            await fetch(0)
        cb.force_open()
        assert await fetch(4) == -4  # rejection → fallback
        assert await cb.call_async(fetch, 5) == -5
        assert cb.metrics().totals.failures == 1

    asyncio.run(main())


def test_fallback_on_timeout() -> None:
    cb = ringbreaker.CircuitBreaker("tfb", timeout=0.01, fallback=None, fallback_on_failure=True)

    @cb
    async def hang() -> str:
        await asyncio.sleep(10)
        return "never"

    assert asyncio.run(hang()) is None
    assert cb.metrics().totals.failures == 1


def test_failure_when_counts_a_returned_value_as_failure() -> None:
    cb = ringbreaker.CircuitBreaker("fw", minimum_calls=3, failure_when=lambda r: r.get("status") >= 500)

    @cb
    def get(status: int) -> dict[str, int]:
        return {"status": status}

    assert get(200) == {"status": 200}
    assert get(503) == {"status": 503}  # still returned
    assert cb.metrics().failures == 1
    assert get(502) == {"status": 502}
    assert cb.state is State.OPEN

    async def aget(status: int) -> dict[str, int]:
        return {"status": status}

    cb.reset()
    asyncio.run(cb.call_async(aget, 500))
    assert cb.metrics().failures == 1
    with pytest.raises(TypeError, match="failure_when"):
        ringbreaker.CircuitBreaker("bad", failure_when=5)  # type: ignore[arg-type]


def test_predicates_in_failure_on_and_ignore() -> None:
    def is_5xx(e: BaseException) -> bool:
        return isinstance(e, OSError) and e.errno is not None and e.errno >= 500

    cb = ringbreaker.CircuitBreaker(
        "pred", minimum_calls=1, failure_on=is_5xx, ignore=lambda e: isinstance(e, OSError) and e.errno == 404
    )

    def raise_(errno: int) -> None:
        raise OSError(errno, "x")

    for errno, kind in ((404, "ignored"), (400, "successes"), (503, "failures")):
        before = cb.metrics().totals
        with pytest.raises(OSError):
            cb.call(raise_, errno)
        after = cb.metrics().totals
        assert getattr(after, kind) == getattr(before, kind) + 1, errno
    assert cb.state is State.OPEN


def test_decorated_functions_and_breakers_pickle() -> None:
    assert pickle.loads(pickle.dumps(_workers.double)) is _workers.double
    assert pickle.loads(pickle.dumps(_workers.adouble)) is _workers.adouble
    assert pickle.loads(pickle.dumps(_workers.cb)) is _workers.cb  # by name, same process


def test_process_pool_runs_decorated_functions_and_breakers() -> None:
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: everything is pickled
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        assert list(pool.map(_workers.double, [1, 2, 3])) == [2, 4, 6]
        assert pool.submit(_workers.use_breaker, _workers.cb, 4).result() == ("workers", 5)
        unregistered = ringbreaker.CircuitBreaker("made-here", minimum_calls=5)
        assert pool.submit(_workers.use_breaker, unregistered, 1).result() == ("made-here", 2)


def test_totals_since_creation() -> None:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker(
        "totals", clock=clock, window=1.0, buckets=1, minimum_calls=2, open_duration=2.0, slow_call_duration=0.5
    )

    def work(seconds: float, fail: bool = False) -> None:
        clock.advance(seconds)
        if fail:
            raise ConnectionError

    cb.call(work, 0.1)
    cb.call(work, 0.7)  # slow
    clock.advance(1.0)  # the window forgets them; the totals do not
    m = cb.metrics()
    assert m.calls == 0 and m.totals.calls == 2 and m.totals.slow_calls == 1
    for _ in range(2):
        with pytest.raises(ConnectionError):
            cb.call(work, 0.2, True)
    assert cb.state is State.OPEN
    clock.advance(2.0)
    cb.call(work, 0.1)  # trial
    assert cb.state is State.CLOSED
    t = cb.metrics().totals
    assert (t.calls, t.successes, t.failures, t.ignored) == (5, 3, 2, 0)
    assert t.duration_count == {"success": 3, "failure": 2, "ignored": 0}
    assert t.duration_sum["success"] == pytest.approx(0.9)
    assert t.duration_sum["failure"] == pytest.approx(0.4)
    assert t.seconds_in_state[State.CLOSED] == pytest.approx(0.8 + 1.0 + 0.4)
    assert t.seconds_in_state[State.OPEN] == pytest.approx(2.0)
    assert t.seconds_in_state[State.HALF_OPEN] == pytest.approx(0.1)
    assert set(t.seconds_in_state) == set(State)
    with pytest.raises(ringbreaker.CircuitOpenError):
        cb.force_open()
        cb.call(work, 0)
    assert cb.metrics().totals.rejected == 1


def test_help_shows_every_parameter_with_its_default() -> None:
    import inspect

    text = pydoc.render_doc(ringbreaker.CircuitBreaker, renderer=pydoc.plaintext)
    params = [p for p in inspect.signature(ringbreaker.CircuitBreaker).parameters if p != "name"]
    assert len(params) >= 20
    for p in params:
        default = inspect.signature(ringbreaker.CircuitBreaker).parameters[p].default
        shown = "(Exception,)" if default == (Exception,) else repr(default)
        assert f"``{p}={shown}``" in text, p
