"""HttpMarketDataSource against a real HTTP server on 127.0.0.1, started by each test.

The server counts TCP connections and requests per path, and can be told to answer slowly or
with a 500, so pooling, caching, single-flight, timeouts and errors are observed from the
server's side rather than inferred from the client's counters."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ringbreaker.trading import HttpMarketDataSource, TradingBreakers, TradingState

NS = 1_000_000_000


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.requests: Counter[str] = Counter()
        self.delay = 0.0
        self.status = 200
        self.bodies: dict[str, Any] = {
            "/index": {"level": 4_900.0, "prior_close": 5_000.0},
            "/vix": {"value": 18.5},
            "/halts": {"halted": []},
        }
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client can reuse a connection

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.connections += 1

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                with server.lock:
                    server.requests[self.path] += 1
                    delay, status = server.delay, server.status
                if delay:
                    time.sleep(delay)
                body = json.dumps(server.bodies.get(self.path, {})).encode() if status == 200 else b"{}"
                self.send_response(status if self.path in server.bodies else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="test-http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.stop()


def test_one_pooled_connection_serves_many_requests(server: Server) -> None:
    async def main() -> None:
        src = HttpMarketDataSource(server.url, ttl=0.0, max_connections=1)
        for _ in range(50):
            assert await src.get_json("/vix") == {"value": 18.5}
        await src.aclose()
        assert src.is_closed

    asyncio.run(main())
    assert server.requests["/vix"] == 50
    assert server.connections == 1


def test_ttl_cache_hits_and_expiry(server: Server) -> None:
    now = [0.0]

    async def main() -> HttpMarketDataSource:
        src = HttpMarketDataSource(server.url, ttl=1.0, clock=lambda: now[0])
        for _ in range(10):
            await src.get_json("/vix")
        assert server.requests["/vix"] == 1
        now[0] = 0.99
        await src.get_json("/vix")
        assert server.requests["/vix"] == 1
        now[0] = 1.0                               # expired at exactly ttl
        await src.get_json("/vix")
        assert server.requests["/vix"] == 2
        await src.aclose()
        return src

    src = asyncio.run(main())
    assert (src.cache_hits, src.requests) == (10, 2)


def test_single_flight_under_100_concurrent_callers(server: Server) -> None:
    server.delay = 0.2

    async def main() -> list[Any]:
        src = HttpMarketDataSource(server.url, ttl=0.0)
        try:
            results = await asyncio.gather(*(src.get_json("/index") for _ in range(100)))
            assert src.shared == 99
            return results
        finally:
            await src.aclose()

    results = asyncio.run(main())
    assert server.requests["/index"] == 1
    assert all(r == {"level": 4_900.0, "prior_close": 5_000.0} for r in results)


def test_timeout_is_a_total_deadline_and_returns_nothing(server: Server) -> None:
    server.delay = 1.0

    async def main() -> HttpMarketDataSource:
        src = HttpMarketDataSource(server.url, ttl=0.0, timeout=0.1, retries=5)
        assert await src.get_json("/vix") is None
        await src.aclose()
        return src

    start = time.monotonic()
    src = asyncio.run(main())
    assert src.timeouts == 1 and src.requests == 1      # the deadline covers the retries too
    assert time.monotonic() - start < 0.9               # nobody waited for the slow answer


def outage_then_check(server: Server, fail: str) -> tuple[TradingState, TradingState, HttpMarketDataSource]:
    """One good fetch, then an outage (`fail`), seen through the facade's check_source()."""
    clock = [1_772_463_600 * NS]

    async def main() -> tuple[TradingState, TradingState, HttpMarketDataSource]:
        src = HttpMarketDataSource(server.url, ttl=0.0, timeout=0.1, retries=1)
        cfg = {"breakers": {"market_data_staleness": {"max_age": 5.0}, "vix": {}}}
        async with TradingBreakers.from_config(cfg, clock=lambda: clock[0], source=src) as tb:
            first = (await tb.check_source()).state
            if fail == "500":
                server.status = 500
            else:
                server.delay = 1.0
            clock[0] += 10 * NS
            second = await tb.check_source()                # must not raise
            assert second.tripped == ("market_data_staleness",)
        assert src.is_closed                                # close() closed the source too
        return first, second.state, src

    return asyncio.run(main())


def test_500_is_retried_and_check_reports_stale_data(server: Server) -> None:
    first, second, src = outage_then_check(server, "500")
    assert (first, second) == (TradingState.ACTIVE, TradingState.HALTED)
    assert src.errors == 2 * 3                              # 3 paths, each one try + one retry


def test_timeout_does_not_crash_check(server: Server) -> None:
    first, second, src = outage_then_check(server, "timeout")
    assert (first, second) == (TradingState.ACTIVE, TradingState.HALTED)
    assert src.timeouts == 3                                # one deadline per path, in parallel
