"""Threads: exact accounting under contention, and no serialisation of guarded calls."""

from __future__ import annotations

import threading
import time

import ringbreaker

CALLS = 100_000
THREADS = 4


def test_four_threads_account_for_every_call() -> None:
    # one hour window: every call stays in it; failure_rate 1.0 with a mix never trips
    cb = ringbreaker.CircuitBreaker("threads", window=3600.0, buckets=10, failure_rate=1.0)

    @cb
    def work(i: int) -> int:
        if i % 7 == 0:
            raise ConnectionError(i)
        if i % 11 == 0:
            raise KeyError(i)  # an Exception not in failure_on... (failure_on is Exception)
        return i

    tallies = [[0, 0] for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def run(slot: int) -> None:
        barrier.wait()
        ok = failed = 0
        for i in range(CALLS):
            try:
                work(i)
                ok += 1
            except (ConnectionError, KeyError):
                failed += 1
        tallies[slot] = [ok, failed]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = cb.metrics()
    assert m.calls == THREADS * CALLS
    assert m.successes == sum(t[0] for t in tallies)
    assert m.failures == sum(t[1] for t in tallies)
    assert m.rejected == 0 and m.stale == 0


def test_guarded_calls_do_not_serialise() -> None:
    cb = ringbreaker.CircuitBreaker("sleepy")

    @cb
    def nap() -> None:
        time.sleep(0.001)

    def run() -> None:
        for _ in range(100):
            nap()

    start = time.perf_counter()
    run()
    one = time.perf_counter() - start
    threads = [threading.Thread(target=run) for _ in range(2)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    two = time.perf_counter() - start
    # serialised, two threads would take ~2x one; concurrent, about 1x
    assert two < one * 1.6, f"one thread {one:.3f}s, two threads {two:.3f}s"
    assert cb.metrics().successes == 300


def test_a_permit_records_once_across_threads() -> None:
    cb = ringbreaker.CircuitBreaker("once", window=3600.0)
    rounds, racers = 200, 4
    outcomes: list[str] = []
    lock = threading.Lock()
    for _ in range(rounds):
        permit = cb.try_acquire()
        barrier = threading.Barrier(racers)

        def race(p: ringbreaker.Permit = permit, b: threading.Barrier = barrier) -> None:
            b.wait()
            try:
                cb.record(p, True)
                result = "recorded"
            except ringbreaker.PermitReusedError:
                result = "reused"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=race) for _ in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert outcomes.count("recorded") == rounds
    assert outcomes.count("reused") == rounds * (racers - 1)
    assert cb.metrics().totals.successes == rounds
