"""ringbreaker.shared: one breaker in a region mapped by several Python processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ringbreaker
from ringbreaker import SharedRegionError, State

# A context that starts fresh interpreters: each worker opens the region by path, as an
# unrelated process would (no mapping inherited through fork).
CTX = mp.get_context("spawn")

EXACT = dict(window=3600.0, buckets=6, minimum_calls=1_000_000_000)
CHURN = dict(
    window=3600.0,
    buckets=6,
    minimum_calls=1_000_000_000,
    consecutive_failures=3,
    open_duration=0.00005,
    half_open_permits=2,
    half_open_timeout=3600.0,
)
LEASE = dict(window=60.0, buckets=6, minimum_calls=1_000_000, open_duration=0.2, half_open_timeout=0.3)


@pytest.fixture
def region(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "region")
    yield path
    if os.path.exists(path):
        ringbreaker.unlink_shared(path=path)


# -- workers (module level, so spawned interpreters can import them) -------------------------


def exact_worker(path: str, n: int) -> None:
    cb = ringbreaker.shared("orders", path=path, **EXACT)
    for i in range(n):
        permit = cb.try_acquire()
        cb.record(permit, success=i % 4 != 0)


def churn_worker(path: str, n: int, seed: int) -> tuple[list[int], list[int]]:
    """Random outcomes on a breaker that trips and half-opens constantly. Returns the
    generations of the transitions this process won (its listener sees exactly those) and
    of the trial permits it was given."""
    cb = ringbreaker.shared("churn", path=path, **CHURN)
    won: list[int] = []
    cb.subscribe(lambda t: won.append(t.generation))
    trials: list[int] = []
    x = seed
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        try:
            permit = cb.try_acquire()
        except ringbreaker.CircuitOpenError:
            continue
        if permit.kind == 1:
            trials.append(permit.generation)
        cb.record(permit, success=(x >> 33) % 3 != 0)
    return won, trials


def trial_holder(path: str, ready: Any) -> None:
    cb = ringbreaker.shared("lease", path=path, **LEASE)
    permit = cb.try_acquire()
    ready.put((permit.kind, permit.generation, ringbreaker.shared_now_ns()))
    time.sleep(60)  # killed while holding the trial


# -- tests -----------------------------------------------------------------------------------


def test_create_attach_and_see_each_others_transitions(region: str) -> None:
    a = ringbreaker.shared("orders", path=region, **EXACT)
    b = ringbreaker.shared("orders", path=region, **EXACT)
    assert isinstance(a, ringbreaker.CircuitBreaker)
    assert (a.info()["opened"], b.info()["opened"]) == ("created", "attached")
    assert a.region_id == b.region_id and a.region_id & 0x8000_0000
    assert a.info()["creator_pid"] == os.getpid()
    assert a.path == region
    start = a.metrics().generation
    a.trip("risk limit")
    assert b.state is State.OPEN
    with pytest.raises(ringbreaker.CircuitOpenError):
        b.call(lambda: None)
    h = b.history(start)
    assert [(t.from_state, t.to_state, t.reason) for t in h.transitions] == [(State.CLOSED, State.OPEN, "trip")]
    assert (h.missed, h.generation) == (0, start + 1)
    b.reset()
    assert a.state is State.CLOSED
    # A permit from one opening is recorded through the other: one id for the region.
    permit = a.try_acquire()
    b.record(permit, success=False)
    assert a.metrics().failures == 1
    # Closing a breaker (dropping it) never removes the file; unlink does.
    del a, b
    assert os.path.exists(region)
    ringbreaker.unlink_shared(path=region)
    assert not os.path.exists(region)


def test_default_clock_is_the_host_clock(region: str) -> None:
    cb = ringbreaker.shared("clock", path=region, **LEASE)
    before = time.monotonic_ns()
    cb.trip()
    after = time.monotonic_ns()
    at = cb.history(cb.metrics().generation - 1).transitions[0].at_ns
    assert before <= at <= after  # CLOCK_MONOTONIC: the same numbers in every process
    assert abs(ringbreaker.shared_now_ns() - time.monotonic_ns()) < 50_000_000


def test_another_config_is_refused_naming_each_field(region: str) -> None:
    ringbreaker.shared("orders", path=region, **EXACT)
    with pytest.raises(SharedRegionError) as e:
        ringbreaker.shared("orders", path=region, **{**EXACT, "failure_rate": 0.25, "open_duration": 7.0})
    print("config mismatch:", e.value)
    assert e.value.kind == "config"
    assert e.value.path == region
    assert isinstance(e.value, ringbreaker.Error) and isinstance(e.value, OSError)
    assert "failure_rate: 0.5 in the region vs 0.25 requested" in str(e.value)
    assert "open_ns: 5000000000 in the region vs 7000000000 requested" in str(e.value)


def test_bad_names_and_files_are_refused(region: str) -> None:
    with pytest.raises(SharedRegionError) as e:
        ringbreaker.shared("a/b")
    assert e.value.kind == "invalid_name"
    ringbreaker.shared("orders", path=region, **EXACT)
    data = Path(region).read_bytes()

    def refused(content: bytes) -> SharedRegionError:
        Path(region).write_bytes(content)
        with pytest.raises(SharedRegionError) as e:
            ringbreaker.shared("orders", path=region, **EXACT)
        print(f"{e.value.kind}: {e.value}")
        return e.value

    assert refused(data[:-1]).kind == "truncated"
    assert refused(data[:100]).kind == "truncated"
    assert refused(data[:12]).kind == "truncated"
    assert refused(data[:8] + struct.pack("=I", 2) + data[12:]).kind == "version"
    assert refused(data[:40] + bytes([data[40] ^ 1]) + data[41:]).kind == "corrupt"
    assert refused(bytes(range(256)) * 16).kind == "not_a_region"


def test_a_creator_that_died_mid_creation_is_replaced(region: str) -> None:
    # The file as a creator killed mid-creation leaves it: sized, prefix written (magic,
    # version, header size, pid), ready flag never set, creation lock released by its death.
    dead = CTX.Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    header_size = 600
    prefix = b"RBSHARED" + struct.pack("=IIII", 1, header_size, 0, dead.pid)
    Path(region).write_bytes(prefix + bytes(4096 - len(prefix)))
    cb = ringbreaker.shared("orders", path=region, **EXACT)
    info = cb.info()
    print("recovered from", info)
    assert (info["opened"], info["dead_creator_pid"]) == ("recovered", dead.pid)
    permit = cb.try_acquire()
    cb.record(permit, success=True)
    assert ringbreaker.shared("orders", path=region, **EXACT).metrics().successes == 1


def test_four_processes_count_exactly(region: str) -> None:
    cb = ringbreaker.shared("orders", path=region, **EXACT)
    n = 3000
    procs = [CTX.Process(target=exact_worker, args=(region, n)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    m = cb.metrics()
    assert (m.calls, m.failures, m.successes) == (4 * n, n, 3 * n)


def test_four_processes_one_winner_per_transition_and_no_extra_trials(region: str) -> None:
    cb = ringbreaker.shared("churn", path=region, **CHURN)
    first = cb.metrics().generation
    with CTX.Pool(4) as pool:
        results = pool.starmap(churn_worker, [(region, 6000, seed) for seed in (1, 7, 42, 99)])
    won = Counter(g for w, _ in results for g in w)
    trials = Counter(g for _, t in results for g in t)
    last = cb.metrics().generation
    print(f"4 processes: {last - first} transitions, {sum(trials.values())} trials in {len(trials)} half-opens")
    assert last - first > 10, "the workload must churn"
    assert sorted(won) == list(range(first + 1, last + 1)), "every generation won by some process"
    assert max(won.values()) == 1, "no generation won twice"
    assert max(trials.values()) <= 2, f"trials over-issued: {trials.most_common(3)}"
    assert cb.history(max(first, last - 64)).missed == 0


def test_sigkill_of_a_trial_holder_does_not_wedge_the_others(region: str) -> None:
    cb = ringbreaker.shared("lease", path=region, **LEASE)
    cb.trip()
    time.sleep(0.21)
    q = CTX.Queue()
    holder = CTX.Process(target=trial_holder, args=(region, q))
    holder.start()
    kind, generation, issued = q.get(timeout=30)
    assert kind == 1  # a half-open trial
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    print(f"killed trial holder {holder.pid} (trial of generation {generation})")
    with pytest.raises(ringbreaker.CircuitOpenError) as e:
        cb.try_acquire()
    assert e.value.state is State.HALF_OPEN  # its trial is still out
    while ringbreaker.shared_now_ns() < issued + 300_000_000:
        time.sleep(0.005)
    # half_open_timeout after the trial was issued: the next call re-opens it or proceeds.
    try:
        permit = cb.try_acquire()
        cb.record(permit, success=True)
    except ringbreaker.CircuitOpenError as e2:
        assert e2.state is State.OPEN
        t = cb.history(generation).transitions[0]
        print("after the lapse:", t)
        assert (t.from_state, t.to_state, t.reason) == (State.HALF_OPEN, State.OPEN, "half_open_timeout")
    deadline = time.monotonic() + 5
    while cb.state is not State.CLOSED:
        assert time.monotonic() < deadline, "wedged"
        try:
            permit = cb.try_acquire()
            cb.record(permit, success=True)
        except ringbreaker.CircuitOpenError:
            time.sleep(0.01)


def test_a_name_alone_opens_the_default_path() -> None:
    name = f"rb-test-{os.getpid()}"
    cb = ringbreaker.shared(name, **EXACT)
    try:
        expected = "/dev/shm" if os.path.isdir("/dev/shm") else None
        assert cb.path.endswith(f"ringbreaker.{name}")
        if expected:
            assert cb.path == f"{expected}/ringbreaker.{name}"
        assert ringbreaker.shared(name, **EXACT).info()["opened"] == "attached"
    finally:
        ringbreaker.unlink_shared(name)
    assert not os.path.exists(cb.path)
    with pytest.raises(SharedRegionError) as e:
        ringbreaker.unlink_shared(name)
    assert e.value.kind == "io"
    with pytest.raises(TypeError):
        ringbreaker.unlink_shared(name, path=cb.path)


def test_the_two_process_example_halts_both() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "examples/shared/two_processes.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    print(r.stdout)
    assert r.returncode == 0, r.stderr
    assert "tripped it: CLOSED -> OPEN (failure_rate)" in r.stdout
    assert "halted" in r.stdout and "made elsewhere: [('OPEN', 'failure_rate')]" in r.stdout
