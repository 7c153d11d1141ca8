"""Rust, C and Python processes on one shared region: every snapshot agrees.

Builds the two peers first: the C test program (``test_shared peer ...``) against the debug
static library, and the Rust bench binary (``shared_bench peer ...``). Each peer invocation is
a separate process that attaches the region, applies operations at a given time, and prints
its snapshot; the Python side does the same in this process with a ManualClock set to that
time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import ringbreaker
from ringbreaker import State

ROOT = Path(__file__).resolve().parents[2]
CONFIG = dict(window=60.0, buckets=6, minimum_calls=4, open_duration=1.0, half_open_permits=2)
T0 = 1_000_000_000_000


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    out = tmp_path_factory.mktemp("peers")
    subprocess.run(["cargo", "build", "-q", "-p", "ringbreaker-ffi"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "-q", "-p", "ringbreaker-benches", "--bin", "shared_bench"], cwd=ROOT, check=True)
    c_bin = out / "test_shared"
    subprocess.run(
        [os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "include"),
         str(ROOT / "ffi-c/tests/c/test_shared.c"), str(ROOT / "target/debug/libringbreaker_ffi.a"),
         "-lpthread", "-ldl", "-lm", "-o", str(c_bin)],
        check=True,
    )  # fmt: skip
    return {"c": [str(c_bin), "peer"], "rust": [str(ROOT / "target/debug/shared_bench"), "peer"]}


@pytest.fixture
def region(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "interop")
    yield path
    if os.path.exists(path):
        ringbreaker.unlink_shared(path=path)


Snap = tuple[int, ...]


def peer(cmd: list[str], path: str, now: int, *ops: str) -> Snap:
    r = subprocess.run([*cmd, path, str(now), *ops, "snap"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith("snap ")]
    return tuple(int(x) for x in line.split()[1:])


def py_snap(cb: ringbreaker.CircuitBreaker) -> Snap:
    m = cb.metrics()
    return (
        int(m.state),
        m.generation,
        m.calls,
        m.successes,
        m.failures,
        m.slow_calls,
        m.rejected,
        m.stale,
        round(m.open_duration * 1e9),
        0 if m.time_until_half_open is None else round(m.time_until_half_open * 1e9),
    )


def test_rust_c_and_python_processes_agree_on_every_snapshot(peers: dict[str, list[str]], region: str) -> None:
    clock = ringbreaker.ManualClock(T0)
    py = ringbreaker.shared("interop", path=region, clock=clock, **CONFIG)

    def py_ops(*ops: str) -> None:
        for op in ops:
            if op in ("s", "f"):
                py.record(py.try_acquire(), success=op == "s")
            elif op == "trip":
                py.trip()
            elif op == "reset":
                py.reset()

    def all_agree(now: int) -> Snap:
        clock.set_ns(now)
        snaps = {"python": py_snap(py), "c": peer(peers["c"], region, now), "rust": peer(peers["rust"], region, now)}
        print(now - T0, snaps)
        assert snaps["python"] == snaps["c"] == snaps["rust"], snaps
        return snaps["python"]

    start = py.metrics().generation
    # Python: two successes and a failure; C and Rust see them.
    py_ops("s", "s", "f")
    s = all_agree(T0 + 1)
    assert (s[0], s[2], s[4]) == (State.CLOSED, 3, 1)
    # C: one more failure trips it (2 of 4 failed: 50 %, minimum 4 calls).
    s = peer(peers["c"], region, T0 + 10, "f")
    s = all_agree(T0 + 20)
    assert (s[0], s[1]) == (State.OPEN, start + 1)
    # Rust, after the open duration: the first trial (of two) succeeds; still half-open.
    s = peer(peers["rust"], region, T0 + 1_000_000_030, "s")
    s = all_agree(T0 + 1_000_000_040)
    assert s[0] == State.HALF_OPEN
    # Python: the second trial succeeds and closes it.
    clock.set_ns(T0 + 1_000_000_050)
    py_ops("s")
    s = all_agree(T0 + 1_000_000_060)
    assert (s[0], s[1], s[2]) == (State.CLOSED, start + 3, 0)
    # C trips it by hand, Rust resets it.
    peer(peers["c"], region, T0 + 2_000_000_000, "trip")
    s = all_agree(T0 + 2_000_000_010)
    assert s[0] == State.OPEN
    peer(peers["rust"], region, T0 + 2_000_000_020, "reset")
    s = all_agree(T0 + 2_000_000_030)
    assert (s[0], s[1]) == (State.CLOSED, start + 5)
    # Every process journaled what it did: Python reads the whole story.
    h = py.history(start)
    print(h)
    assert h.missed == 0
    assert [(t.to_state, t.reason) for t in h.transitions] == [
        (State.OPEN, "failure_rate"),  # C
        (State.HALF_OPEN, "open_elapsed"),  # Rust
        (State.CLOSED, "trials_succeeded"),  # Python
        (State.OPEN, "trip"),  # C
        (State.CLOSED, "reset"),  # Rust
    ]


# The Rust bench's config: the defaults with rate trips off.
HAMMER = dict(minimum_calls=2**32 - 1)


def python_hammer(path: str, n: int) -> None:
    cb = ringbreaker.shared("hammer", path=path, **HAMMER)
    for _ in range(n):
        cb.record(cb.try_acquire(), success=True)


def test_python_c_and_rust_processes_hammer_one_region_exactly(peers: dict[str, list[str]], region: str) -> None:
    cb = ringbreaker.shared("hammer", path=region, **HAMMER)
    ctx = mp.get_context("spawn")
    pys = [ctx.Process(target=python_hammer, args=(region, 20_000)) for _ in range(2)]
    c = subprocess.Popen([peers["c"][0], "hammer", region, "200000"], stdout=subprocess.PIPE, text=True)
    rust = subprocess.Popen([peers["rust"][0], "worker", "shared", region, "0.5"], stdout=subprocess.PIPE, text=True)
    for p in pys:
        p.start()
    counts = [int(c.communicate()[0]), int(rust.communicate()[0])]
    assert (c.returncode, rust.returncode) == (0, 0)
    for p in pys:
        p.join()
        assert p.exitcode == 0
    total = sum(counts) + 2 * 20_000
    m = cb.metrics()
    print(f"2 Python + 1 C + 1 Rust processes: {total} calls (C {counts[0]}, Rust {counts[1]}), counted {m.successes}")
    assert (m.calls, m.successes, m.failures) == (total, total, 0)
