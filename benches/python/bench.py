"""Per-call cost of ringbreaker from Python beside the bare call and the Python peers.

Run by `make bench` in its own venv (ringbreaker's release wheel, pybreaker, circuitbreaker,
aiobreaker, purgatory). Each figure is nanoseconds per call: the median of `REPEATS` timed
loops of `N` calls, with the spread (min..max of the repeats) and every repeat's figure
(`samples`); the candidates of one table are timed in turn within each repeat, so
`benches/report.py` takes ratios within a repeat. Writes JSON to the path given.

Usage: `bench.py OUT.json [--quick]`. `--quick` (for `make bench-quick`) times fewer calls and
skips the memory run.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiobreaker
import circuitbreaker
import pybreaker
import purgatory

import ringbreaker

N = 200_000
REPEATS = 9


def figure(samples: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}


def interleaved(fns: dict[str, Any], per_call: Callable[[Any], float]) -> dict[str, dict[str, Any]]:
    """`per_call(fn)` (nanoseconds per call) for each of `fns`, interleaved: every repeat times
    each candidate once, in turn, so a slow spell of a shared machine falls on all of them
    alike. The garbage collector is off while a candidate is timed."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(REPEATS):
        for name, fn in fns.items():
            gc.disable()
            try:
                samples[name].append(per_call(fn))
            finally:
                gc.enable()
    return {name: figure(v) for name, v in samples.items()}


def time_sync(fns: dict[str, Callable[[], Any]], n: int | None = None) -> dict[str, dict[str, Any]]:
    """Nanoseconds per call of each of `fns`."""
    calls = N if n is None else n

    def per_call(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        return (time.perf_counter_ns() - t0) / calls

    return interleaved(fns, per_call)


def rejecting(fn: Callable[[], Any], exc: type[BaseException]) -> Callable[[], None]:
    """`fn` (which must be rejected) wrapped in the try/except a caller writes."""

    def once() -> None:
        try:
            fn()
        except exc:
            pass
        else:
            raise AssertionError("expected a rejection")

    once()
    return once


def raising_same_frame(exc: BaseException) -> Callable[[], None]:
    """The baseline of a caught rejection: raise a new exception of `exc`'s type with `exc`'s
    arguments and catch it, both in one frame (what any exception costs, with no breaker)."""
    cls, args = type(exc), exc.args

    def once() -> None:
        try:
            raise cls(*args)
        except cls:
            pass

    return once


def time_async(fns: dict[str, Callable[[], Awaitable[Any]]], n: int | None = None) -> dict[str, dict[str, Any]]:
    """`time_sync` for coroutine functions, each sample awaited in a running event loop (the
    loop's set-up is outside the timed part)."""
    calls = N if n is None else n

    async def loop(fn: Callable[[], Awaitable[Any]]) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            await fn()
        return (time.perf_counter_ns() - t0) / calls

    return interleaved(fns, lambda fn: asyncio.run(loop(fn)))


def two_threads(fn: Callable[[], Any], n: int | None = None) -> dict[str, float]:
    """Calls per second of 1 thread and of 2 threads sharing `fn`'s breaker, alternated. Under
    the GIL, two threads take turns: this shows what sharing a breaker costs beyond that."""
    n = N if n is None else n

    def run(threads: int) -> float:
        barrier = threading.Barrier(threads + 1)

        def work() -> None:
            barrier.wait()
            for _ in range(n):
                fn()

        ts = [threading.Thread(target=work) for _ in range(threads)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        return threads * n / (time.perf_counter() - t0)

    ones, twos = [], []
    for _ in range(REPEATS):
        ones.append(run(1))
        twos.append(run(2))
    one, two = statistics.median(ones), statistics.median(twos)
    return {"one_thread_calls_per_s": one, "two_threads_calls_per_s": two, "ratio": two / one}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def memory(fn: Callable[[], Any], calls: int) -> dict[str, int]:
    for _ in range(100_000):
        fn()
    gc.collect()
    before = rss()
    for _ in range(calls):
        fn()
    gc.collect()
    return {"calls": calls, "rss_before": before, "rss_after": rss(), "growth": rss() - before}


def main() -> None:
    global N, REPEATS
    out_path = sys.argv[1]
    quick = "--quick" in sys.argv[2:]
    rest = [a for a in sys.argv[2:] if a != "--quick"]
    mem_calls = int(rest[0]) if rest else 10_000_000
    if quick:
        N, REPEATS = 100_000, 9

    def bare() -> int:
        return 1

    async def abare() -> int:
        return 1

    rb = ringbreaker.CircuitBreaker("bench")
    pb = pybreaker.CircuitBreaker()
    cb_peer = circuitbreaker.CircuitBreaker(name="bench")
    ab = aiobreaker.CircuitBreaker()
    pf = purgatory.AsyncCircuitBreakerFactory()

    rb_sync = rb(bare)
    pb_sync = pb(bare)
    cb_sync = cb_peer(bare)
    rb_async = rb(abare)
    ab_async = ab(abare)
    pg_async = pf("bench")(abare)

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "versions": {p: importlib.metadata.version(p)
                     for p in ("ringbreaker", "pybreaker", "circuitbreaker", "aiobreaker", "purgatory")},
        "n": N,
        "repeats": REPEATS,
        "quick": quick,
    }
    results["sync"] = time_sync({
        "bare": bare,
        "ringbreaker": rb_sync,
        "pybreaker": pb_sync,
        "circuitbreaker": cb_sync,
    })
    results["async"] = time_async({
        "bare": abare,
        "ringbreaker": rb_async,
        "aiobreaker": ab_async,
        "purgatory": pg_async,
    })
    # Open (not forced open) for longer than the run, so every call takes the timed rejection.
    open_rb = ringbreaker.CircuitBreaker("open", open_duration=3600.0)
    open_rb.trip()
    open_pb = pybreaker.CircuitBreaker(reset_timeout=3600)
    open_pb.open()
    open_call = open_rb(bare)
    try:
        open_call()
        raise AssertionError("expected a rejection")
    except ringbreaker.CircuitOpenError as e:
        rejection = e
    results["rejected"] = time_sync({
        "ringbreaker": rejecting(open_call, ringbreaker.CircuitOpenError),
        "raise_same_frame": raising_same_frame(rejection),
        "pybreaker": rejecting(open_pb(bare), pybreaker.CircuitBreakerError),
    })
    results["threads"] = {"ringbreaker": two_threads(rb_sync)}
    if not quick:
        results["memory"] = {"ringbreaker": memory(rb_sync, mem_calls)}
    with open(out_path, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps({k: {n: v["median"] for n, v in results[k].items()} for k in ("sync", "async", "rejected")},
                     indent=1))


if __name__ == "__main__":
    main()
