"""The public API: decorator forms, context managers, explicit permits, classification,
listeners, registry."""

from __future__ import annotations

import logging

import pytest

import ringbreaker
from ringbreaker import State


def breaker(**kw: object) -> tuple[ringbreaker.CircuitBreaker, ringbreaker.ManualClock]:
    clock = ringbreaker.ManualClock()
    kw.setdefault("minimum_calls", 2)
    return ringbreaker.CircuitBreaker("api", clock=clock, **kw), clock  # type: ignore[arg-type]


def test_decorator_preserves_the_function() -> None:
    cb, _ = breaker()

    @cb
    def add(a: int, b: int = 1) -> int:
        """Adds."""
        return a + b

    assert add(1, b=2) == 3
    assert add.__name__ == "add" and add.__doc__ == "Adds."
    assert add.__wrapped__(1) == 2  # type: ignore[attr-defined]  # unguarded: not counted

    class Svc:
        @cb
        def method(self, x: int) -> tuple[object, int]:
            return self, x

    s = Svc()
    assert s.method(4) == (s, 4)
    assert cb.metrics().successes == 2


def test_generators_are_guarded_as_one_call() -> None:
    cb, _ = breaker()

    @cb
    def numbers(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    assert list(numbers(3)) == [0, 1, 2]
    assert cb.metrics().successes == 1


def test_full_cycle_with_call_and_explicit_permits() -> None:
    cb, clock = breaker(open_duration=2.0, half_open_permits=2)

    def boom() -> None:
        raise ConnectionError

    for _ in range(2):
        with pytest.raises(ConnectionError):
            cb.call(boom)
    assert cb.state is State.OPEN
    with pytest.raises(ringbreaker.CircuitOpenError) as info:
        cb.call(lambda: 1)
    assert info.value.breaker == "api" and info.value.state is State.OPEN
    assert info.value.retry_after == pytest.approx(2.0)
    assert "api" in str(info.value) and "OPEN" in str(info.value)
    assert isinstance(info.value, ringbreaker.Error)
    clock.advance(2.0)
    assert cb.state is State.HALF_OPEN
    a, b = cb.try_acquire(), cb.try_acquire()
    with pytest.raises(ringbreaker.CircuitOpenError):
        cb.try_acquire()
    cb.record(a, success=True)
    cb.record(b, success=True)
    assert cb.state is State.CLOSED
    m = cb.metrics()
    assert (m.calls, m.rejected) == (0, 2)


def test_with_block_records_and_reraises() -> None:
    cb, _ = breaker(minimum_calls=1000)
    with cb:
        pass
    with pytest.raises(ValueError):
        with cb:
            raise ValueError
    m = cb.metrics()
    assert (m.successes, m.failures) == (1, 1)
    # nested blocks on two breakers unwind in order
    other, _ = breaker()
    with cb, other:
        pass
    assert cb.metrics().successes == 2 and other.metrics().successes == 1


def test_classification_order() -> None:
    cb, _ = breaker(
        failure_on=(ConnectionError, lambda e: getattr(e, "status", 0) >= 500), ignore=(KeyError,), minimum_calls=1000
    )

    class HttpError(Exception):
        def __init__(self, status: int) -> None:
            self.status = status

    for exc in (ConnectionError(), HttpError(503), HttpError(404), KeyError(), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with cb:
                raise exc
    m = cb.metrics()
    # ConnectionError, 503 -> failures; 404 -> success (the resource answered);
    # KeyError ignored; KeyboardInterrupt is not a call by default
    assert (m.failures, m.successes, m.calls) == (2, 1, 3)


def test_slow_calls_trip() -> None:
    cb, clock = breaker(slow_call_duration=0.5, slow_call_rate=0.5)

    @cb
    def slow() -> None:
        clock.advance(1.0)

    slow()
    slow()
    assert cb.state is State.OPEN
    assert cb.metrics().slow_calls == 2


def test_listeners_see_committed_transitions_and_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    cb, _ = breaker(minimum_calls=1)
    seen: list[tuple[State, State, State]] = []

    def good(t: ringbreaker.Transition) -> None:
        seen.append((t.from_state, t.to_state, cb.metrics().state))  # state already committed

    def bad(t: ringbreaker.Transition) -> None:
        raise RuntimeError("listener bug")

    sub_bad = cb.subscribe(bad)
    sub = cb.subscribe(good)
    with caplog.at_level(logging.ERROR, logger="ringbreaker"):
        with pytest.raises(ConnectionError):
            with cb:
                raise ConnectionError
    assert seen == [(State.CLOSED, State.OPEN, State.OPEN)]
    assert "listener bug" in caplog.text
    t = cb.reset("maintenance over")
    assert t is not None and t.note == "maintenance over" and t.reason == "reset"
    assert seen[-1][:2] == (State.OPEN, State.CLOSED)
    sub.close()
    sub.close()  # idempotent
    sub_bad.close()
    cb.trip()
    assert len(seen) == 2


def test_manual_operations() -> None:
    cb, _ = breaker()
    assert cb.force_open().to_state is State.FORCED_OPEN  # type: ignore[union-attr]
    assert cb.force_open() is None
    with pytest.raises(ringbreaker.CircuitOpenError):
        cb.call(lambda: 1)
    assert cb.disable().to_state is State.DISABLED  # type: ignore[union-attr]
    for _ in range(10):
        with pytest.raises(ConnectionError):
            with cb:
                raise ConnectionError
    assert cb.metrics().calls == 0
    assert cb.metrics_only().to_state is State.METRICS_ONLY  # type: ignore[union-attr]
    for _ in range(10):
        with pytest.raises(ConnectionError):
            with cb:
                raise ConnectionError
    assert cb.metrics().failures == 10 and cb.state is State.METRICS_ONLY
    assert cb.reset().to_state is State.CLOSED  # type: ignore[union-attr]


def test_registry_rejects_duplicate_names() -> None:
    reg = ringbreaker.Registry()
    a = reg.create("orders")
    with pytest.raises(ValueError, match="already registered"):
        reg.create("orders")
    assert reg["orders"] is a and reg.get("nope") is None
    assert list(reg) == ["orders"]
    reg.register(a)  # the same breaker again is fine
    reg.unregister("orders")
    assert "orders" not in reg
    with pytest.raises(KeyError):
        reg["orders"]


def test_permit_start_time_is_read_only_when_needed() -> None:
    # No slow-call detection and a native clock: a Closed breaker needs no time to permit.
    cb, clock = breaker()
    clock.advance(1.0)
    p = cb.try_acquire()
    assert p.started_ns is None
    cb.record(p, True)
    assert cb.metrics().successes == 1

    # Slow-call detection needs the start, and so does a Python clock (read where it can raise).
    timed, tclock = breaker(slow_call_duration=0.5)
    tclock.advance(1.0)
    p = timed.try_acquire()
    assert p.started_ns == 1_000_000_000
    tclock.advance(0.6)
    timed.record(p, True)
    assert timed.metrics().slow_calls == 1
    ticks = iter(range(7, 100))
    py_clock = ringbreaker.CircuitBreaker("pyclock", clock=lambda: next(ticks))
    # 7 was read when the breaker was made (the start of its time in CLOSED).
    assert py_clock.try_acquire().started_ns == 8

    # An Open breaker needs the time to decide, so its trial permit carries it.
    cb.trip()
    clock.advance(cb.metrics().time_until_half_open or 0.0)
    assert cb.try_acquire().started_ns == clock.now_ns
