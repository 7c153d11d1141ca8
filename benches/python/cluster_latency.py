"""Propagation latency of ringbreaker.cluster: a transition in one process until it is applied in
another, through a real redis-server on this host.

    .venv/bin/python benches/python/cluster_latency.py [N] [GAP_SECONDS]

Starts a redis-server on a free port (PATH, else the one `make redis-server` installs), a
follower process (follow="all") and, in this process, an origin that alternates trip/reset N
times, GAP_SECONDS apart. Latency = the follower's wall clock after its local breaker applied
the event, minus the origin's wall clock when its transition was queued (same host, same
clock). Prints median, p90, p99 and max in microseconds. A measurement, not a test.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "py" / "tests"))

from ringbreaker import CircuitBreaker, State  # noqa: E402
from ringbreaker.cluster import Cluster, ClusterEvent  # noqa: E402


def follower(url: str, ns: str, n: int) -> None:
    lat: list[int] = []

    def on_event(e: ClusterEvent) -> None:
        if e.action != "none":
            lat.append(time.time_ns() - e.sent_ns)

    with Cluster(url, namespace=ns, follow="all", on_event=on_event) as c:
        c.attach(b := CircuitBreaker("orders"))
        print("ready", flush=True)
        deadline = time.monotonic() + 120
        while len(lat) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.state in (State.OPEN, State.CLOSED)
    print(json.dumps(lat), flush=True)


def main() -> None:
    from redis_fixture import RedisServer

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    gap = float(sys.argv[2]) if len(sys.argv) > 2 else 0.002
    ns = f"bench-{os.getpid()}"
    with RedisServer() as srv:
        child = subprocess.Popen(
            [sys.executable, __file__, "--follower", srv.url, ns, str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        with Cluster(srv.url, namespace=ns) as c:
            b = c.attach(CircuitBreaker("orders"))
            while not c.stats().connected:
                time.sleep(0.01)
            time.sleep(0.3)  # the follower's reader is blocked in XREAD by now
            for i in range(n):
                if i % 2 == 0:
                    b.trip("bench")
                else:
                    b.reset("bench")
                time.sleep(gap)
            out, _ = child.communicate(timeout=180)
    lat_us = sorted(x / 1000 for x in json.loads(out.strip().splitlines()[-1]))
    q = statistics.quantiles(lat_us, n=100)
    print(f"redis-server on 127.0.0.1, 2 processes, {len(lat_us)} of {n} transitions applied, gap {gap * 1e3:.1f} ms")
    print(
        f"publish->applied: median {statistics.median(lat_us):.0f} us, p90 {q[89]:.0f} us, "
        f"p99 {q[98]:.0f} us, max {lat_us[-1]:.0f} us"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--follower":
        follower(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
