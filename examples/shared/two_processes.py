"""Two Python processes, one breaker: a worker's orders fail and trip it; the main process,
which never saw a failure, is halted at its next call and reads what happened from the
region's journal.

    python examples/shared/two_processes.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time

import ringbreaker

CONFIG = dict(minimum_calls=5, failure_rate=0.5, open_duration=2.0)


def failing_worker(name: str) -> None:
    cb = ringbreaker.shared(name, **CONFIG)  # attaches to the parent's region
    cb.subscribe(lambda t: print(f"[worker {os.getpid()}] tripped it: {t.from_state.name} -> {t.to_state.name} ({t.reason})"))
    for _ in range(1000):
        try:
            with cb:
                raise ConnectionError("exchange rejected the order")
        except ConnectionError:
            pass
        except ringbreaker.CircuitOpenError:
            return


def main() -> int:
    name = f"example-{os.getpid()}"
    cb = ringbreaker.shared(name, **CONFIG)  # created here
    seen = cb.metrics().generation
    worker = mp.get_context("spawn").Process(target=failing_worker, args=(name,))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                cb.call(lambda: "order placed")
            except ringbreaker.CircuitOpenError as e:
                missed = cb.history(seen).transitions
                print(f"[main   {os.getpid()}] halted: {e}; made elsewhere: {[(t.to_state.name, t.reason) for t in missed]}")
                break
            time.sleep(0.001)
        else:
            print("the main process was never halted", file=sys.stderr)
            return 1
        worker.join()
        m = cb.metrics()
        print(f"both processes see one breaker: {m.state.name}, {m.calls} calls, {m.failures} failed, {m.rejected} rejected")
        return 0 if m.state is ringbreaker.State.OPEN else 1
    finally:
        cb.unlink()


if __name__ == "__main__":
    sys.exit(main())
