"""States print as names and agree with metrics; every exception is constructible, printable
and picklable; errors name the Python parameter in seconds; timedelta is accepted."""

from __future__ import annotations

import datetime
import pickle

import pytest

import ringbreaker
from ringbreaker import State


def test_states_print_as_names() -> None:
    assert str(State.OPEN) == "OPEN"
    assert f"{State.HALF_OPEN}" == "HALF_OPEN"
    assert State.OPEN == 1 and State(2) is State.HALF_OPEN
    cb = ringbreaker.CircuitBreaker("p")
    cb.trip()
    assert str(cb.state) == "OPEN"
    t = cb.reset("done")
    assert t is not None and str(t) == "p: OPEN -> CLOSED (reset): done"


@pytest.mark.parametrize("op", ["none", "trip", "elapsed", "force_open", "disable", "metrics_only"])
def test_state_and_metrics_state_agree_at_one_instant(op: str) -> None:
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker("agree", clock=clock, open_duration=1.0)
    if op in ("trip", "elapsed"):
        cb.trip()
    elif op != "none":
        getattr(cb, op)()
    if op == "elapsed":
        clock.advance(1.0)
    assert cb.state is cb.metrics().state
    assert isinstance(cb.metrics().state, State)


ERRORS = [
    ringbreaker.Error,
    ringbreaker.CircuitOpenError,
    ringbreaker.CircuitTimeoutError,
    ringbreaker.ConfigError,
    ringbreaker.ForeignPermitError,
    ringbreaker.PermitReusedError,
    ringbreaker.SharedRegionError,
]


@pytest.mark.parametrize("cls", ERRORS)
@pytest.mark.parametrize("args", [(), ("x",), ("x", 1), ("x", State.OPEN, 2.5), (None, "junk", "junk", 4)])
def test_every_error_is_constructible_printable_picklable(cls: type[Exception], args: tuple[object, ...]) -> None:
    e = cls(*args)
    assert isinstance(str(e), str) and isinstance(repr(e), str)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and back.args == e.args and str(back) == str(e)


def test_circuit_open_error_fields() -> None:
    e = ringbreaker.CircuitOpenError("x")
    assert (e.breaker, e.state, e.retry_after) == ("x", None, None)
    assert str(e) == "circuit breaker 'x' is open"
    e = ringbreaker.CircuitOpenError("x", State.HALF_OPEN, 0.25)
    assert (e.state, e.retry_after) == (State.HALF_OPEN, 0.25)
    assert str(e) == "circuit breaker 'x' is HALF_OPEN; retry after 0.250 s"


def test_raised_open_error_pickles() -> None:
    cb = ringbreaker.CircuitBreaker("raised")
    cb.force_open()
    with pytest.raises(ringbreaker.CircuitOpenError) as info:
        cb.call(lambda: 1)
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.breaker, back.state, back.retry_after) == ("raised", State.FORCED_OPEN, None)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"window": -1}, ["window", "seconds", "> 0", "-1"]),
        ({"window": 0}, ["window", "> 0 seconds"]),
        ({"window": 1e-9, "buckets": 3}, ["window", "buckets", "nanoseconds"]),
        ({"open_duration": 1e30}, ["open_duration", "seconds", "18446744073.709551615"]),
        ({"max_open_duration": 1.0}, ["max_open_duration (1.0 s)", "open_duration (5.0 s)"]),
        ({"buckets": 5000}, ["buckets", "1..=4096", "5000"]),
        ({"half_open_permits": 2000}, ["half_open_permits", "1..="]),
        ({"minimum_calls": 2**40}, ["minimum_calls", "0..=4294967295"]),
        ({"failure_rate": 2.0}, ["failure_rate", "0.0..=1.0", "2.0"]),
        ({"slow_call_duration": 0}, ["slow_call_duration", "> 0 seconds", "None"]),
        ({"timeout": -1}, ["timeout", "> 0 seconds"]),
    ],
)
def test_errors_name_the_parameter_in_seconds_with_the_range(kwargs: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ringbreaker.ConfigError) as info:
        ringbreaker.CircuitBreaker("bad", **kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    for w in words:
        assert w in text, text
    assert "_ns" not in text and "u64" not in text and "u32" not in text
    assert info.value.parameter == next(iter(kwargs))


def test_timedelta_is_accepted_wherever_seconds_are() -> None:
    td = datetime.timedelta
    cb = ringbreaker.CircuitBreaker(
        "td",
        window=td(seconds=20),
        slow_call_duration=td(milliseconds=250),
        open_duration=td(seconds=3),
        max_open_duration=td(minutes=1),
        half_open_timeout=td(seconds=7),
        timeout=td(seconds=2),
    )
    c = cb.config
    assert (c.window, c.slow_call_duration, c.open_duration, c.max_open_duration, c.half_open_timeout) == (
        20.0,
        0.25,
        3.0,
        60.0,
        7.0,
    )
    p = cb.try_acquire()
    cb.record(p, True, duration=td(milliseconds=300))
    assert cb.metrics().totals.slow_calls == 1
    with pytest.raises(ringbreaker.ConfigError, match="window"):
        ringbreaker.CircuitBreaker("neg", window=td(seconds=-1))
    clock = ringbreaker.ManualClock()
    clock.advance(td(milliseconds=1500))
    assert clock.now_ns == 1_500_000_000
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        clock.advance(td(seconds=-1))


def test_config_object_is_the_one_schema() -> None:
    cfg = ringbreaker.Config(window=5, buckets=5, open_duration=datetime.timedelta(seconds=2))
    assert cfg == ringbreaker.Config(window=5.0, buckets=5, open_duration=2)
    assert cfg != ringbreaker.Config()
    assert hash(cfg) == hash(ringbreaker.Config(window=5.0, buckets=5, open_duration=2))
    assert "window=5.0" in repr(cfg)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    odd = ringbreaker.Config(window=0.000_000_01, buckets=10, half_open_timeout=3.000_000_001)
    assert pickle.loads(pickle.dumps(odd)) == odd
    cb = ringbreaker.CircuitBreaker("cfg", config=cfg)
    assert cb.config == cfg
    with pytest.raises(TypeError, match="config"):
        ringbreaker.CircuitBreaker("both", config=cfg, window=3.0)
    with pytest.raises(ringbreaker.ConfigError, match="buckets"):
        ringbreaker.Config(buckets=0)


def test_retry_after_is_given_for_a_full_half_open() -> None:
    # The core's number, passed through: the earliest lapse of the newest trial's lease.
    clock = ringbreaker.ManualClock()
    cb = ringbreaker.CircuitBreaker("lease", clock=clock, open_duration=1.0, half_open_timeout=2.0)
    cb.trip()
    with pytest.raises(ringbreaker.CircuitOpenError) as info:
        cb.try_acquire()
    assert (info.value.state, info.value.retry_after) == (State.OPEN, pytest.approx(1.0))
    clock.advance(1.0)
    trial = cb.try_acquire()
    clock.advance(0.5)
    with pytest.raises(ringbreaker.CircuitOpenError) as info:
        cb.try_acquire()
    assert info.value.state is State.HALF_OPEN
    assert info.value.retry_after == pytest.approx(1.5)
    cb.record(trial, True)
    cb.force_open()
    with pytest.raises(ringbreaker.CircuitOpenError) as info:
        cb.try_acquire()
    assert (info.value.state, info.value.retry_after) == (State.FORCED_OPEN, None)
