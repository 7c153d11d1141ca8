"""The striped window from Python: ``stripes=`` validated natively with its range, reported
memory per stripe, exact totals from many threads, trips decided over every stripe, pickling."""

from __future__ import annotations

import pickle
import threading

import pytest

import ringbreaker
from ringbreaker import CircuitBreaker, Config, ConfigError, State


@pytest.mark.parametrize("bad", [0, 3, 6, 100, 128])
def test_stripes_must_be_a_power_of_two_up_to_64(bad: int) -> None:
    with pytest.raises(ConfigError) as e:
        Config(stripes=bad)
    assert e.value.parameter == "stripes"
    assert "stripes must be" in str(e.value) and "64" in str(e.value), str(e.value)
    with pytest.raises(ConfigError):
        CircuitBreaker("x", stripes=bad)


@pytest.mark.parametrize("bad", [1.5, "2", True])
def test_stripes_must_be_an_int(bad: object) -> None:
    with pytest.raises((TypeError, ConfigError)) as e:
        Config(stripes=bad)  # type: ignore[arg-type]
    assert "stripes" in str(e.value)


def test_a_ring_too_large_names_stripes_and_the_limit() -> None:
    with pytest.raises(ConfigError) as e:
        Config(stripes=64, buckets=4096, window=4096e-9)
    assert e.value.parameter == "stripes"
    assert "65536" in str(e.value), str(e.value)


def test_memory_per_stripe_is_reported() -> None:
    c = Config(stripes=4)
    assert (c.stripes, c.buckets, c.stripe_bytes) == (4, 10, 10 * 128)
    assert Config().stripes == 1
    assert "stripes=4" in repr(c)
    assert pickle.loads(pickle.dumps(c)) == c
    assert Config(stripes=2) != Config(stripes=4)


def test_threads_are_counted_exactly_in_a_striped_window() -> None:
    cb = CircuitBreaker("striped", stripes=8, minimum_calls=10**9)
    start = threading.Barrier(8)
    each = 2_000

    def work(t: int) -> None:
        start.wait()
        for i in range(each):
            if (t + i) % 4 == 0:
                with pytest.raises(ValueError):
                    cb.call(_fail)
            else:
                cb.call(lambda: None)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    m = cb.metrics()
    failures = sum(1 for t in range(8) for i in range(each) if (t + i) % 4 == 0)
    assert (m.calls, m.failures, m.successes) == (8 * each, failures, 8 * each - failures)


def test_a_trip_is_decided_over_every_stripe() -> None:
    # Four threads, ten failures each: no stripe alone reaches minimum_calls=40.
    cb = CircuitBreaker("trip", stripes=4, minimum_calls=40, failure_rate=1.0)
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(10):
            try:
                cb.call(_fail)
            except (ValueError, ringbreaker.CircuitOpenError):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert cb.state == State.OPEN
    assert cb.metrics().failures == 40


def _fail() -> None:
    raise ValueError("down")
