"""Hostile data and configs. The HTTP source is tried against a real HTTP server on 127.0.0.1
(http.server in a thread) that drips headers, sends huge or compressed bodies, asks to retry
later and serves bad numbers; configs against overflow, deep nesting, non-UTF-8 files and values
that would only fail at use. Nothing may escape as an unplanned exception, hang the caller,
exhaust memory or flip the desk's state the wrong way."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringbreaker.trading import (
    ConfigError,
    EventKind,
    HttpMarketDataSource,
    MarketSnapshot,
    TradingBreakers,
    TradingState,
)

ET = ZoneInfo("America/New_York")
NS = 1_000_000_000
GOOD = {"/index": b'{"level": 4900.0, "prior_close": 5000.0}', "/vix": b'{"value": 18.5}',
        "/halts": b'{"halted": []}'}

Respond = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """Serves GOOD unless a path has its own responder."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.special: dict[str, Respond] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                server.requests[self.path] += 1
                try:
                    if self.path in server.special:
                        server.special[self.path](self)
                    else:
                        send(self, GOOD.get(self.path, b"{}"))
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def send(h: BaseHTTPRequestHandler, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.stop()


def poll(server: Server, **kw: Any) -> tuple[MarketSnapshot, HttpMarketDataSource, float]:
    async def main() -> tuple[MarketSnapshot, HttpMarketDataSource]:
        src = HttpMarketDataSource(server.url, ttl=0.0, **kw)
        try:
            return await src.snapshot(datetime(2026, 3, 2, 10, 0, tzinfo=ET)), src
        finally:
            await src.aclose()

    start = time.monotonic()
    snap, src = asyncio.run(main())
    return snap, src, time.monotonic() - start


# -- transport --------------------------------------------------------------------------------

def test_a_server_dripping_headers_cannot_hold_a_poll_past_its_deadline(server: Server) -> None:
    stop = threading.Event()

    def drip(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(60):  # one header byte every 0.1 s: each read is "fast", the whole is slow
            if stop.wait(0.1):
                return
            h.wfile.write(b"X")
            h.wfile.flush()

    server.special["/vix"] = drip
    snap, src, took = poll(server, timeout=0.5, retries=3)
    stop.set()
    assert snap.vix is None and snap.index_level == 4900.0  # the other paths still arrived
    assert took < 3.0  # the old per-read timeout held a 0.5 s call for 31.6 s
    assert src.timeouts == 1


def test_a_100_mb_body_is_refused_at_the_cap(server: Server) -> None:
    def huge(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")  # no Content-Length to refuse up front
        h.end_headers()
        chunk = b"[" * 65536
        for _ in range(100 * 16):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")

    server.special["/vix"] = huge
    tracemalloc.start()
    snap, src, _ = poll(server, timeout=20.0, max_body=100_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert snap.vix is None and src.too_large == 1
    assert any("cap" in r for r in snap.rejected)
    assert peak < 20_000_000  # the old source took 1.7 GB


def test_a_gzip_bomb_is_never_inflated_past_the_cap(server: Server) -> None:
    bomb = gzip.compress(b" " * 50_000_000, compresslevel=9)  # ~50 KB that inflates to 50 MB
    server.special["/index"] = lambda h: send(h, bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    snap, src, _ = poll(server, timeout=20.0, max_body=1_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert snap.index_level is None and src.too_large == 1
    assert any("inflates past" in r for r in snap.rejected)
    assert peak < 10_000_000  # the old source took 5.2 GB on a 1 MB bomb


def test_a_small_gzip_body_is_inflated_and_read(server: Server) -> None:
    server.special["/vix"] = lambda h: send(h, gzip.compress(b'{"value": 22.5}'), headers={"Content-Encoding": "gzip"})
    snap, _, _ = poll(server)
    assert snap.vix == 22.5 and snap.rejected == ()


def test_retry_after_is_honoured(server: Server) -> None:
    server.special["/vix"] = lambda h: send(h, b"{}", 503, {"Retry-After": "120"})
    t = [0.0]

    async def main() -> list[Any]:
        src = HttpMarketDataSource(server.url, ttl=0.0, retries=3, clock=lambda: t[0])
        try:
            out = [await src.get_json("/vix")]
            t[0] = 119.0
            out.append(await src.get_json("/vix"))  # still blocked: no request
            t[0] = 120.0
            del server.special["/vix"]
            out.append(await src.get_json("/vix"))
            out.append(src.retry_after_skips)
            return out
        finally:
            await src.aclose()

    out = asyncio.run(main())
    assert out == [None, None, {"value": 18.5}, 1]
    assert server.requests["/vix"] == 2  # one 503 (not retried), then one after 120 s


def test_the_per_path_cache_is_bounded(server: Server) -> None:
    async def main() -> int:
        src = HttpMarketDataSource(server.url, ttl=60.0, max_paths=8)
        try:
            for i in range(100):
                await src.get_json(f"/p{i}")
            return src.cached_paths
        finally:
            await src.aclose()

    assert asyncio.run(main()) == 8


# -- bad content is a data-quality event, never an exception ---------------------------------------

HOSTILE_BODIES = {
    "4000-digit int": b'{"level": ' + b"9" * 4000 + b', "prior_close": 5000.0}',
    "deep JSON": b"[" * 100_000 + b"]" * 100_000,
    "NaN": b'{"level": NaN, "prior_close": 5000.0}',
    "Infinity": b'{"level": Infinity, "prior_close": 5000.0}',
    "zero level": b'{"level": 0, "prior_close": 5000.0}',
    "negative prior close": b'{"level": 4900, "prior_close": -5000}',
    "implausible level": b'{"level": 1.0, "prior_close": 5000.0}',
    "string level": b'{"level": "4900", "prior_close": 5000.0}',
    "not UTF-8": b'{"level": "\xff\xfe"}',
    "not JSON": b"<html>oops</html>",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
def test_hostile_index_bodies_become_data_quality_events(server: Server, kind: str) -> None:
    server.special["/index"] = lambda h: send(h, HOSTILE_BODIES[kind])
    clock = [int(datetime(2026, 3, 2, 10, 0, tzinfo=ET).timestamp()) * NS]

    async def main() -> list[Any]:
        src = HttpMarketDataSource(server.url, ttl=0.0, timeout=5.0)
        cfg = {"breakers": {"market_data_staleness": {"max_age": 5.0}}}
        async with TradingBreakers.from_config(cfg, clock=lambda: clock[0], source=src) as tb:
            states = []
            for _ in range(4):
                st = await tb.check_source()  # must not raise
                states.append(st)
                clock[0] += 3 * NS
            return [states, tb.statistics(), tb.history()]

    states, stats, history = asyncio.run(main())
    assert stats["bad_readings"] >= 3
    warnings = [e for e in history if e.breaker == "data_quality" and e.kind is EventKind.WARNING]
    assert warnings and all(e.reason.startswith("bad data: index") for e in warnings)
    # never fed to the rules: no market-wide halt from a level of 0 or 1.0; the data-quality
    # breaker (3 bad readings in 60 s) halts instead, and the staleness breaker never saw fresh data
    assert not any(e.breaker == "market_wide" and e.kind is EventKind.TRIP for e in history)
    assert states[2].state is TradingState.HALTED and "data_quality" in states[2].tripped


def test_nan_readings_do_not_count_as_fresh(server: Server) -> None:
    clock = [int(datetime(2026, 3, 2, 10, 0, tzinfo=ET).timestamp()) * NS]

    async def main() -> list[tuple[str, ...]]:
        src = HttpMarketDataSource(server.url, ttl=0.0)
        cfg = {"breakers": {"market_data_staleness": {"max_age": 5.0}, "data_quality": {"enabled": False}}}
        async with TradingBreakers.from_config(cfg, clock=lambda: clock[0], source=src) as tb:
            out = [(await tb.check_source()).tripped]
            server.special["/index"] = lambda h: send(h, HOSTILE_BODIES["NaN"])
            clock[0] += 10 * NS
            out.append((await tb.check_source()).tripped)
            return out

    assert asyncio.run(main()) == [(), ("market_data_staleness",)]


def test_a_raising_source_is_bad_data_not_an_exception() -> None:
    class Broken:
        async def snapshot(self, now: datetime) -> MarketSnapshot:
            raise OverflowError("int too large to convert to float")

        async def aclose(self) -> None:
            pass

    async def main() -> dict[str, Any]:
        async with TradingBreakers.from_config({}, source=Broken()) as tb:
            await tb.check_source()
            return tb.statistics()

    assert asyncio.run(main())["bad_readings"] == 1


def test_implausible_readings_in_a_users_snapshot_are_rejected_not_fed() -> None:
    async def main() -> list[Any]:
        async with TradingBreakers.from_config({}) as tb:
            t = datetime(2026, 3, 2, 10, 0, tzinfo=ET)
            st = await tb.check(MarketSnapshot(timestamp=t, index_level=1.0, index_prior_close=5000.0, vix=500.0))
            return [st.state, tb.statistics()["bad_readings"]]

    assert asyncio.run(main()) == [TradingState.ACTIVE, 2]


# -- hostile configs ----------------------------------------------------------------------------

HOSTILE_CONFIGS: list[tuple[Any, str]] = [
    ({"breakers": {"vix": {"halt_at": 10**400}}}, "breakers.vix.halt_at"),
    ({"breakers": {"vix": {"reduce_at": -(10**400)}}}, "breakers.vix.reduce_at"),
    ({"breakers": {"order_reject_rate": {"window": 10**400}}}, "breakers.order_reject_rate.window"),
    ({"breakers": {"order_reject_rate": {"buckets": 10**400}}}, "breakers.order_reject_rate.buckets"),
    ({"breakers": {"order_reject_rate": {"half_open_permits": 2**64}}}, "breakers.order_reject_rate.half_open_permits"),
    ({"breakers": {"order_reject_rate": {"consecutive_failures": 0}}},
     "breakers.order_reject_rate.consecutive_failures"),
    ({"breakers": {"order_reject_rate": {"backoff_multiplier": 1e308}}},
     "breakers.order_reject_rate.backoff_multiplier"),
    ({"breakers": {"latency": {"slow_call_duration": 1e-300}}}, "breakers.latency.slow_call_duration"),
    ({"breakers": {"execution_throttle": {"max_count": 2**32}}}, "breakers.execution_throttle.max_count"),
    ({"breakers": {"kill_switch": {"heartbeat_timeout": 1e300}}}, "breakers.kill_switch.heartbeat_timeout"),
    ({"breakers": {"market_wide": {"cutoff": "15:25:00"}}}, "breakers.market_wide.cutoff"),
    ({"breakers": {"market_wide": {"timezone": "Mars/Olympus"}}}, "breakers.market_wide.timezone"),
    ({"breakers": {"market_wide": {"timezone": "\x00"}}}, "breakers.market_wide.timezone"),
    ({"breakers": {"vix": {"halt_at": [[[[[[[[[[1]]]]]]]]]]}}}, "breakers.vix.halt_at"),
    ({"breakers": {"order_throttle": {"per_symbol": "100/0s"}}}, "breakers.order_throttle.per_symbol"),
    ({"breakers": {"order_throttle": {"per_symbol": "9" * 400 + "/1s"}}}, "breakers.order_throttle.per_symbol"),
    ({"breakers": {"order_throttle": {"on_breach": "explode"}}}, "breakers.order_throttle.on_breach"),
    ({"calendar": {"early_closes": ["2026-13-40"]}}, "calendar.early_closes[0]"),
    ({"calendar": {"early_close": "17:00"}}, "calendar.early_close"),
    ({"breakers": {"x": {"type": ["vix"]}}}, "breakers.x.type"),
    ({"breakers": []}, "breakers"),
    ([1, 2], "<root>"),
]


@pytest.mark.parametrize("cfg, path", HOSTILE_CONFIGS)
def test_hostile_configs_are_config_errors_with_their_key_path(cfg: Any, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config(cfg)
    assert info.value.path == path, info.value
    assert len(str(info.value)) < 400


def test_deeply_nested_configs_are_config_errors() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config({"breakers": {"vix": {"halt_at": deep}}})
    assert info.value.path == "breakers.vix.halt_at"
    nested: Any = {}
    for _ in range(100_000):
        nested = {"a": nested}
    with pytest.raises(ConfigError):
        TradingBreakers.from_config({"breakers": {"vix": nested}})


def test_toml_files_that_are_deep_non_utf8_or_overflowing(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config(deep)
    assert "deep.toml" in str(info.value)
    latin = tmp_path / "latin1.toml"
    latin.write_bytes("[breakers.vix]\n# Zürich desk\nhalt_at = 45\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config(latin)
    assert info.value.path == "<file>" and "latin1.toml" in str(info.value) and "UTF-8" in str(info.value)
    huge = tmp_path / "huge.toml"
    huge.write_text("[breakers.daily_loss]\nlimit = 1e999\n")
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config(huge)
    assert info.value.path == "breakers.daily_loss.limit" and "finite" in str(info.value)


def test_vix_thresholds_all_zero_fail_at_load_not_in_check() -> None:
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config({"breakers": {"vix": {"reduce_at": 0, "halt_at": 0, "clear_below": 0}}})
    assert info.value.path.startswith("breakers.vix.")


def test_every_breaker_type_survives_a_check_with_extreme_but_valid_values() -> None:
    from ringbreaker.trading import BreakerType

    async def main() -> None:
        cfg = {"breakers": {t.value: {} for t in BreakerType}}
        async with TradingBreakers.from_config(cfg) as tb:
            t = datetime(2026, 3, 2, 10, 0, tzinfo=ET)
            for v in (1e-300, 1e300):
                await tb.check(MarketSnapshot(timestamp=t, index_level=v, index_prior_close=v, vix=v,
                                              daily_pnl=-v, equity=v, gross_exposure=v))
                t += timedelta(seconds=1)

    asyncio.run(main())


def _sweep() -> list[tuple[str, str, Any]]:
    """Every key of every breaker type, and of the top level and the calendar, against values no
    key accepts."""
    import dataclasses

    from ringbreaker.trading import BreakerType, CalendarConfig, ClusterConfig, FacadeConfig
    from ringbreaker.trading._config import DEFAULTS

    bad: list[Any] = [10**400, -(10**400), float("nan"), float("inf"), -1, 2**64, 1e308, "x", [1], {"a": 1}]
    cases = []
    for btype in BreakerType:
        cls, _ = DEFAULTS[btype]
        for f in dataclasses.fields(cls):
            for v in bad:
                cases.append((f"breakers.{btype.value}.{f.name}", btype.value, v))
    for f in dataclasses.fields(FacadeConfig):
        if f.name not in ("breakers", "calendar", "cluster"):
            cases += [(f.name, "", v) for v in bad]
    cases += [("cluster", "", v) for v in bad if not isinstance(v, dict)]
    for f in dataclasses.fields(ClusterConfig):  # any string is a valid origin or namespace
        cases += [(f"cluster.{f.name}", "", v) for v in bad if not (v == "x" and f.name in ("origin", "namespace"))]
    for f in dataclasses.fields(CalendarConfig):
        cases += [(f"calendar.{f.name}", "", v) for v in bad if not (f.name == "early_closes" and v == [])]
    return cases


SWEEP = _sweep()


def test_the_sweep_is_large() -> None:
    assert len(SWEEP) > 142


@pytest.mark.parametrize("path, btype, value", SWEEP, ids=[f"{p}={type(v).__name__}:{i}" for i, (p, _, v) in
                                                            enumerate(SWEEP)])
def test_every_key_refuses_every_hostile_value_with_its_key_path(path: str, btype: str, value: Any) -> None:
    parts = path.split(".")
    cfg: dict[str, Any]
    if parts[0] == "breakers":
        cfg = {"breakers": {btype: {parts[2]: value}}}
    elif parts[0] == "calendar":
        cfg = {"calendar": {parts[1]: value}}
    elif parts[0] == "cluster" and len(parts) == 2:
        cfg = {"cluster": {"url": "redis://localhost:6379/0", parts[1]: value}}
    else:
        cfg = {parts[0]: value}
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config(cfg)
    assert info.value.path.split("[")[0] == path, info.value
    assert len(str(info.value)) < 400


def test_random_configs_load_or_raise_config_error_only() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ringbreaker.trading import BreakerType
    from ringbreaker.trading._config import DEFAULTS

    import dataclasses

    keys = sorted({f.name for cls, _ in DEFAULTS.values() for f in dataclasses.fields(cls)} | {"type", "enabled"})
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                        st.sampled_from([t.value for t in BreakerType] + ["halt", "reduce", "09:30", "100/1s",
                                                                           "2026-11-27", "America/New_York"]))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                              inner, max_size=3),
                          max_leaves=8)
    tables = st.dictionaries(st.sampled_from(keys), values, max_size=4)
    configs = st.fixed_dictionaries({}, optional={
        "breakers": st.dictionaries(st.sampled_from([t.value for t in BreakerType] + ["x"]), tables, max_size=4),
        "calendar": st.dictionaries(st.sampled_from(["timezone", "open", "close", "early_close", "early_closes"]),
                                    values, max_size=3),
        "history_size": values, "subscriber_timeout": values,
    })

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(configs)
    def check(cfg: dict[str, Any]) -> None:
        try:
            tb = TradingBreakers.from_config(cfg)
        except ConfigError as e:
            assert len(str(e)) < 600
            return
        async def run() -> None:
            async with tb:
                t = datetime(2026, 3, 2, 10, 0, tzinfo=ET)
                await tb.check(MarketSnapshot(timestamp=t, index_level=4000.0, index_prior_close=5000.0, vix=35.0,
                                              daily_pnl=-1e6, equity=1e6, gross_exposure=1e9))
                tb.record_order_result(rejected=True, latency=1.0)
                tb.record_order("ABC")

        asyncio.run(run())

    check()
