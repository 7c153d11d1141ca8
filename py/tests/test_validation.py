"""Every bad argument raises ValueError or TypeError naming the parameter."""

from __future__ import annotations

import math
from typing import Any

import pytest

import ringbreaker

CASES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"window": 0}, ValueError, "window"),
    ({"window": -1.0}, ValueError, "window"),
    ({"window": math.nan}, ValueError, "window"),
    ({"window": math.inf}, ValueError, "window"),
    ({"window": "10"}, TypeError, "window"),
    ({"window": 10.0, "buckets": 3}, ValueError, "window"),  # not divisible
    ({"buckets": 0}, ValueError, "buckets"),
    ({"buckets": 2.5}, TypeError, "buckets"),
    ({"buckets": True}, TypeError, "buckets"),
    ({"buckets": 5000}, ValueError, "buckets"),
    ({"failure_rate": 1.5}, ValueError, "failure_rate"),
    ({"failure_rate": -0.1}, ValueError, "failure_rate"),
    ({"failure_rate": math.nan}, ValueError, "failure_rate"),
    ({"failure_rate": "half"}, TypeError, "failure_rate"),
    ({"minimum_calls": -1}, ValueError, "minimum_calls"),
    ({"minimum_calls": 1.0}, TypeError, "minimum_calls"),
    ({"consecutive_failures": 0}, ValueError, "consecutive_failures"),
    ({"slow_call_duration": 0}, ValueError, "slow_call_duration"),
    ({"slow_call_duration": -1}, ValueError, "slow_call_duration"),
    ({"slow_call_duration": math.nan}, ValueError, "slow_call_duration"),
    ({"slow_call_rate": 2}, ValueError, "slow_call_rate"),
    ({"open_duration": -5}, ValueError, "open_duration"),
    ({"open_duration": math.nan}, ValueError, "open_duration"),
    ({"open_duration": 1e30}, ValueError, "open_duration"),
    ({"max_open_duration": 1.0}, ValueError, "max_open_duration"),  # below open_duration
    ({"backoff_multiplier": 0.5}, ValueError, "backoff_multiplier"),
    ({"backoff_multiplier": math.nan}, ValueError, "backoff_multiplier"),
    ({"backoff_multiplier": "2"}, TypeError, "backoff_multiplier"),
    ({"half_open_permits": 0}, ValueError, "half_open_permits"),
    ({"half_open_permits": 2000}, ValueError, "half_open_permits"),
    ({"half_open_timeout": 0}, ValueError, "half_open_timeout"),
    ({"failure_on": (int,)}, TypeError, "failure_on"),
    ({"failure_on": ("ValueError",)}, TypeError, "failure_on"),
    ({"ignore": 5}, TypeError, "ignore"),
    ({"clock": 5}, TypeError, "clock"),
]


@pytest.mark.parametrize(("kwargs", "exc", "param"), CASES)
def test_bad_argument_names_the_parameter(kwargs: dict[str, Any], exc: type[Exception], param: str) -> None:
    with pytest.raises(exc) as info:
        ringbreaker.CircuitBreaker("bad", **kwargs)
    assert param in str(info.value)


def test_bad_name_type() -> None:
    with pytest.raises(TypeError, match="name"):
        ringbreaker.CircuitBreaker(42)  # type: ignore[arg-type]


def test_bad_record_arguments() -> None:
    cb = ringbreaker.CircuitBreaker("r")
    p = cb.try_acquire()
    with pytest.raises(TypeError, match="success"):
        cb.record(p, success="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duration"):
        cb.record(p, duration=-1.0)
    cb.record(p)
    with pytest.raises(ValueError, match="permit"):
        cb.record(p)  # twice
    other = ringbreaker.CircuitBreaker("other")
    with pytest.raises(ringbreaker.ForeignPermitError, match="another breaker"):
        other.record(cb.try_acquire())
    assert other.metrics().calls == 0


def test_clock_returning_garbage_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="clock"):
        ringbreaker.CircuitBreaker("c", clock=lambda: "soon")  # type: ignore[arg-type,return-value]
    ticks = iter([5, -1])
    cb = ringbreaker.CircuitBreaker("d", clock=lambda: next(ticks))
    with pytest.raises(TypeError, match="clock"):
        cb.try_acquire()


def test_manual_clock_rejects_bad_advances() -> None:
    clock = ringbreaker.ManualClock()
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="seconds"):
            clock.advance(bad)
