"""The contract's edges from Python, one test per bug of the contract issue (the seeded
sequences of the reference model cover them too, in test_spec.py)."""

from __future__ import annotations

import pytest

from ringbreaker import CircuitBreaker, CircuitOpenError, ManualClock, State


def _fail(cb: CircuitBreaker) -> None:
    cb.record(cb.try_acquire(), success=False)


def test_no_ghost_counts_after_2_17_transitions() -> None:
    clock = ManualClock(5)
    cb = CircuitBreaker("ghost", minimum_calls=2**32 - 1, clock=clock)
    _fail(cb)
    assert cb.metrics().failures == 1
    for _ in range(2**16):
        cb.disable()
        cb.reset()
    m = cb.metrics()
    assert (m.calls, m.failures) == (0, 0)


def test_window_exact_next_to_the_stamp_wrap_point() -> None:
    clock = ManualClock(7)
    cb = CircuitBreaker("wrap", minimum_calls=2**32 - 1, clock=clock)
    cb._cb.debug_reset_to_generation(0xFFFF)
    _fail(cb)
    cb._cb.debug_reset_to_generation(0x1FFFD)
    cb.disable()
    cb.reset()  # generation 0x1FFFF shares 0xFFFF's 16 stamp bits
    m = cb.metrics()
    assert (m.generation, m.calls) == (0x1FFFF, 0)


def test_a_trial_issued_just_now_is_not_lapsed() -> None:
    clock = ManualClock(0)
    cb = CircuitBreaker("lease", consecutive_failures=1, open_duration=1.0, half_open_timeout=0.1, clock=clock)
    _fail(cb)
    clock.set_ns(1_000_000_000)
    first = cb.try_acquire()
    cb.record(first, success=None)  # handed back
    clock.set_ns(5_000_000_000)  # 4 s after HalfOpen began
    fresh = cb.try_acquire()
    clock.set_ns(5_050_000_000)
    with pytest.raises(CircuitOpenError) as e:
        cb.try_acquire()
    assert e.value.state is State.HALF_OPEN
    assert e.value.retry_after == pytest.approx(0.05)
    assert cb.state is State.HALF_OPEN
    cb.record(fresh, success=True)
    assert cb.state is State.CLOSED


def test_a_permit_records_once() -> None:
    clock = ManualClock(0)
    cb = CircuitBreaker("once", consecutive_failures=1, open_duration=1e-9, half_open_permits=2, clock=clock)
    _fail(cb)
    clock.set_ns(1)
    a = cb.try_acquire()
    b = cb.try_acquire()
    assert (a.slot, b.slot) == (0, 1)
    cb.record(a, success=True)
    with pytest.raises(ValueError, match="already recorded"):
        cb.record(a, success=True)
    assert cb.state is State.HALF_OPEN  # one success of two
    cb.record(b, success=True)
    assert cb.state is State.CLOSED


def test_retry_after_in_every_rejecting_state() -> None:
    clock = ManualClock(0)
    cb = CircuitBreaker("retry", consecutive_failures=1, open_duration=1.0, half_open_timeout=0.4, clock=clock)
    _fail(cb)
    clock.set_ns(300_000_000)
    with pytest.raises(CircuitOpenError) as e:
        cb.try_acquire()
    assert e.value.retry_after == pytest.approx(0.7)
    assert cb.retry_after() == pytest.approx(0.7)
    clock.set_ns(1_000_000_000)
    cb.try_acquire()
    clock.set_ns(1_100_000_000)
    with pytest.raises(CircuitOpenError) as e:
        cb.try_acquire()
    assert (e.value.state, e.value.retry_after) == (State.HALF_OPEN, pytest.approx(0.3))
    cb.force_open()
    with pytest.raises(CircuitOpenError) as e:
        cb.try_acquire()
    assert (e.value.state, e.value.retry_after) == (State.FORCED_OPEN, None)
    assert cb.retry_after() is None
    cb.reset()
    assert cb.retry_after() == 0.0


def test_backoff_without_a_cap_grows() -> None:
    clock = ManualClock(0)
    cb = CircuitBreaker(
        "backoff",
        consecutive_failures=1,
        open_duration=1.0,
        backoff_multiplier=2.0,
        max_open_duration=None,
        clock=clock,
    )
    _fail(cb)
    for expected in (2.0, 4.0, 8.0):
        clock.set_ns(clock() + round(cb.metrics().open_duration * 1e9))
        _fail(cb)
        assert cb.metrics().open_duration == expected


def test_state_and_metrics_agree_at_every_instant() -> None:
    clock = ManualClock(0)
    cb = CircuitBreaker("agree", consecutive_failures=1, open_duration=1.0, half_open_timeout=0.5, clock=clock)
    _fail(cb)
    for ns in (999_999_999, 1_000_000_000, 1_000_000_001):
        clock.set_ns(ns)
        assert cb.state == cb.metrics().state
    clock.set_ns(1_000_000_000)
    cb.try_acquire()
    for ns in (1_499_999_999, 1_500_000_000):
        clock.set_ns(ns)
        assert cb.state == cb.metrics().state
    assert cb.state is State.OPEN  # the lease lapsed; no acquire has applied it yet
