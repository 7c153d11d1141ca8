"""One test (or more) per bug of the trading-facade issue: deterministic replays, regular hours,
isolated subscribers, config errors with key paths, latching manual trips, risk following the
state, bad snapshots, merged breaker tables, the clock convention."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringbreaker import ManualClock
from ringbreaker.trading import (
    BreakerEvent,
    BreakerType,
    ConfigError,
    EventKind,
    MarketSnapshot,
    SnapshotError,
    TradingBreakers,
    TradingState,
    manual_clock_at,
)

ET = ZoneInfo("America/New_York")
PRIOR = 5000.0


def at(hh: int, mm: int, ss: int = 0, day: int = 2, us: int = 0) -> datetime:
    return datetime(2026, 3, day, hh, mm, ss, us, tzinfo=ET)


def snap(t: datetime, drop: float | None = None, **kw: Any) -> MarketSnapshot:
    level = None if drop is None else PRIOR * (1 - drop)
    return MarketSnapshot(timestamp=t, index_level=level, index_prior_close=PRIOR, **kw)


def day_of_snapshots(day: int = 2) -> list[MarketSnapshot]:
    """A day with a level-1 halt, VIX trips and recovery."""
    out = []
    t = at(9, 31, day=day)
    for i in range(120):
        drop = 0.02 + 0.0006 * i if i < 100 else 0.03
        vix = 20 + i * 0.25
        out.append(snap(t + timedelta(minutes=i), drop, vix=vix))
    return out


def event_key(e: BreakerEvent) -> tuple[Any, ...]:
    return (e.seq, e.kind, e.breaker, e.effect, e.at_ns, e.reason, e.value)


# -- deterministic replays ----------------------------------------------------------------------

def test_rule_time_is_the_snapshot_time_even_after_the_clock_was_read() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:  # real clock: 2026-11 or later
            tb.heartbeat()  # reads the clock
            tb.trip("kill_switch", "test")
            tb.reset("kill_switch", "test")
            # a level-1 decline at 10:00 on an earlier day still halts, at that day's time
            status = await tb.check(snap(at(10, 0), 0.07))
            assert status.state is TradingState.HALTED
            assert status.at_ns == int(at(10, 0).timestamp()) * 10**9
            # 15 minutes later (snapshot time), the halt is over
            assert (await tb.check(snap(at(10, 15), 0.07))).state is TradingState.ACTIVE

    asyncio.run(main())


def test_replay_gives_the_same_statuses_events_and_history_whatever_came_before() -> None:
    async def main() -> None:
        day = day_of_snapshots()
        async with TradingBreakers.from_config({}) as fresh:
            expected = await fresh.replay(day)
            expected_history = [event_key(e) for e in fresh.history()]
        assert any(s.state is TradingState.HALTED for s in expected)
        assert len(expected_history) > 3
        async with TradingBreakers.from_config({}) as tb:
            tb.heartbeat()
            await tb.check(snap(at(14, 0, day=5), 0.08, vix=50))  # a later day, read first
            tb.trip("vix", "noise")
            for _ in range(2):  # the same day twice with one facade
                got = await tb.replay(day)
                assert [(s.state, s.tripped, s.risk_score, s.message, s.at_ns) for s in got] == \
                       [(s.state, s.tripped, s.risk_score, s.message, s.at_ns) for s in expected]
                assert [event_key(e) for e in tb.history()] == expected_history
            # an earlier day after a later one: still its own results
            earlier = await tb.replay(day_of_snapshots(day=2))
            assert [s.state for s in earlier] == [s.state for s in expected]

    asyncio.run(main())


def test_replay_delivers_every_event_to_every_subscriber() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"subscriber_queue_size": 1}) as tb:
            got_sync: list[int] = []
            got_async: list[int] = []

            async def a(e: BreakerEvent) -> None:
                await asyncio.sleep(0)
                got_async.append(e.seq)

            tb.subscribe(lambda e: got_sync.append(e.seq))
            tb.subscribe(a)
            await tb.replay(day_of_snapshots())
            seqs = [e.seq for e in tb.history()]
            assert len(seqs) > 3
            assert got_sync == seqs and got_async == seqs
            assert tb.statistics()["dropped_events"] == 0

    asyncio.run(main())


def test_a_replay_loop_that_never_awaits_counts_its_drops_per_subscriber() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({"subscriber_queue_size": 10}) as tb:
            seen: list[int] = []
            tb.subscribe(lambda e: seen.append(e.seq))
            for _ in range(50):  # no await in between: the worker cannot run
                tb.trip("kill_switch", "x")
                tb.reset("kill_switch", "x")
            await tb.drain()
            detail = tb.statistics()["subscribers_detail"]
            assert detail[0]["dropped"] == 90 and detail[0]["delivered"] == 10
            assert len(seen) == 10 and seen == list(range(91, 101))  # the newest were kept
            assert tb.statistics()["dropped_events"] == 90

    asyncio.run(main())


# -- market-wide rule: regular hours only -------------------------------------------------------

async def _mw(*checks: tuple[datetime, float], cfg: dict[str, Any] | None = None) -> list[TradingState]:
    async with TradingBreakers.from_config(cfg or {}) as tb:
        return [(await tb.check(snap(t, d))).state for t, d in checks]


def test_levels_1_and_2_do_not_halt_before_the_open() -> None:
    assert asyncio.run(_mw((at(9, 29, 59), 0.08))) == [TradingState.ACTIVE]
    assert asyncio.run(_mw((at(9, 29, 59), 0.14))) == [TradingState.ACTIVE]
    assert asyncio.run(_mw((at(9, 30, 0), 0.08))) == [TradingState.ACTIVE]  # "after 9:30 a.m."
    assert asyncio.run(_mw((at(9, 30, 1), 0.08))) == [TradingState.HALTED]
    # a pre-open decline is not consumed: the same decline after the open halts
    assert asyncio.run(_mw((at(9, 0), 0.08), (at(9, 30, 1), 0.08))) == [TradingState.ACTIVE, TradingState.HALTED]
    assert asyncio.run(_mw((at(16, 0, 1), 0.25))) == [TradingState.ACTIVE]  # after the close


def test_half_day_cutoff_is_12_25_from_the_calendar() -> None:
    cal = {"calendar": {"early_closes": ["2026-11-27"]}}
    fri = datetime(2026, 11, 27, 12, 25, tzinfo=ET)
    assert asyncio.run(_mw((fri, 0.07), cfg=cal)) == [TradingState.HALTED]
    assert asyncio.run(_mw((fri + timedelta(seconds=1), 0.07), cfg=cal)) == [TradingState.ACTIVE]
    after_close = datetime(2026, 11, 27, 13, 0, 1, tzinfo=ET)
    assert asyncio.run(_mw((after_close, 0.25), cfg=cal)) == [TradingState.ACTIVE]
    # without the calendar entry the same day is a full day
    assert asyncio.run(_mw((fri + timedelta(seconds=1), 0.07))) == [TradingState.HALTED]


# -- subscribers ----------------------------------------------------------------------------------

def test_a_slow_sync_subscriber_does_not_starve_the_others() -> None:
    async def main() -> None:
        release = threading.Event()
        got: dict[str, list[int]] = {f"s{i}": [] for i in range(6)}

        def slow(e: BreakerEvent) -> None:
            release.wait(10)

        async with TradingBreakers.from_config({"subscriber_timeout": 30.0}) as tb:
            for _ in range(5):  # five slow ones: more than the old pool of 4 threads
                tb.subscribe(slow)
            for name, lst in got.items():
                tb.subscribe(lambda e, lst=lst: lst.append(e.seq))
            tb.trip("kill_switch", "x")
            for _ in range(200):
                if all(got.values()):
                    break
                await asyncio.sleep(0.01)
            assert all(v == [1] for v in got.values())
            release.set()

    asyncio.run(main())


def test_a_subscriber_raising_cancelled_error_does_not_kill_its_delivery() -> None:
    async def main() -> None:
        seen: list[int] = []

        async def cancels(e: BreakerEvent) -> None:
            seen.append(e.seq)
            if e.seq == 1:
                raise asyncio.CancelledError()

        async with TradingBreakers.from_config({}) as tb:
            sub = tb.subscribe(cancels)
            tb.trip("kill_switch", "x")
            await tb.drain()
            tb.reset("kill_switch", "x")
            await tb.drain()
            assert seen == [1, 2]
            assert sub.errors == 1 and sub.delivered == 1

    asyncio.run(main())


def test_awaitables_from_callable_objects_and_lambdas_are_awaited() -> None:
    async def main() -> None:
        done: list[str] = []

        class AsyncCallable:
            async def __call__(self, e: BreakerEvent) -> None:
                await asyncio.sleep(0)
                done.append("object")

        async def coro(tag: str) -> None:
            await asyncio.sleep(0)
            done.append(tag)

        async with TradingBreakers.from_config({}) as tb:
            a = tb.subscribe(AsyncCallable())
            b = tb.subscribe(lambda e: coro("lambda"))
            tb.trip("kill_switch", "x")
            await tb.drain()
            assert sorted(done) == ["lambda", "object"]
            assert a.delivered == 1 and b.delivered == 1

    asyncio.run(main())


def test_a_raising_subscriber_logs_once_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        def bad(e: BreakerEvent) -> None:
            raise RuntimeError("bug")

        async with TradingBreakers.from_config({}) as tb:
            sub = tb.subscribe(bad)
            for _ in range(100):
                tb.trip("kill_switch", "x")
                tb.reset("kill_switch", "x")
                await tb.drain()
            assert sub.errors == 200
            assert tb.statistics()["subscribers_detail"][0]["errors"] == 200

    with caplog.at_level(logging.WARNING, logger="ringbreaker.trading"):
        asyncio.run(main())
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1
    assert any("200 errors" in r.getMessage() for r in caplog.records)


# -- config errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("cfg, path", [
    ({"breakers": {"order_reject_rate": {"window": 1e-12}}}, "breakers.order_reject_rate.window"),
    ({"breakers": {"order_reject_rate": {"minimum_calls": 2**40}}}, "breakers.order_reject_rate.minimum_calls"),
    ({"breakers": {"order_reject_rate": {"open_duration": 1e300}}}, "breakers.order_reject_rate.open_duration"),
    ({"breakers": {"daily_loss": {"limit": 10**400}}}, "breakers.daily_loss.limit"),
    ({"breakers": {"vix": {"reduce_at": 0, "halt_at": 0, "clear_below": 0}}}, "breakers.vix.reduce_at"),
    ({"breakers": {"message_rate": {"buckets": 10**30}}}, "breakers.message_rate.buckets"),
    ({"breakers": {"market_wide": {"halt_minutes": float("nan")}}}, "breakers.market_wide.halt_minutes"),
    ({"history_size": 10**100}, "history_size"),
    ({"subscriber_timeout": -1}, "subscriber_timeout"),
])
def test_every_bad_value_is_a_config_error_with_key_path_value_and_range(cfg: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        TradingBreakers.from_config(cfg)
    assert info.value.path == path, info.value
    msg = str(info.value)
    assert "accepted" in msg or "finite" in msg, msg
    assert len(msg) < 300


# -- manual trips, risk, snapshots -------------------------------------------------------------

def test_a_manual_market_wide_trip_latches_until_reset_and_says_who() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            await tb.check(snap(at(10, 0), 0.01))
            st = tb.trip("market_wide", "exchange phoned", by="alice", at=at(10, 1))
            assert st.state is TradingState.HALTED and "alice" in st.message and "exchange phoned" in st.message
            for m in range(2, 60):
                st = await tb.check(snap(at(10, m), 0.0))
                assert st.state is TradingState.HALTED
            assert tb.statistics()["manual"]["market_wide"]["by"] == "alice"
            st = tb.reset("market_wide", "all clear", by="bob", at=at(11, 0))
            assert st.state is TradingState.ACTIVE
            assert tb.history()[-1].reason == "manual reset by bob: all clear"

    asyncio.run(main())


def test_risk_score_follows_the_state_after_a_halt_ends() -> None:
    async def main() -> None:
        async with TradingBreakers.from_config({}) as tb:
            assert (await tb.check(snap(at(10, 0), 0.07))).risk_score == 100.0
            st = await tb.check(snap(at(10, 15), 0.01))
            assert st.state is TradingState.ACTIVE and st.risk_score < 50
            tb.trip("kill_switch", "x")
            assert tb.status().risk_score == 100.0
            assert tb.reset("kill_switch", "x").risk_score < 50

    asyncio.run(main())


@pytest.mark.parametrize("field, value", [
    ("index_level", float("nan")), ("index_level", 0.0), ("index_level", -1.0), ("index_prior_close", -5.0),
    ("vix", float("inf")), ("vix", -1.0), ("daily_pnl", float("nan")), ("gross_exposure", -1.0),
    ("equity", float("-inf")),
])
def test_bad_snapshot_values_raise_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(SnapshotError) as info:
        MarketSnapshot(timestamp=at(10, 0), **{field: value})
    assert info.value.field == field and field in str(info.value)


# -- breakers table merges by name ---------------------------------------------------------------

def test_breakers_table_adds_to_the_standard_set_and_can_leave_one_out(tmp_path: Path) -> None:
    tb = TradingBreakers.from_config({"breakers": {"daily_loss": {"limit": 5.0}, "vix": {"halt_at": 45}}})
    assert set(tb.breakers) == {"market_wide", "vix", "venue_halt", "kill_switch", "data_quality", "daily_loss"}
    assert tb.breaker("vix").cfg.halt_at == 45.0  # type: ignore[attr-defined]
    toml = tmp_path / "desk.toml"
    toml.write_text("[breakers.vix]\nenabled = false\n[breakers.daily_loss]\nlimit = 5.0\n")
    tb = TradingBreakers.from_config(toml)
    assert "vix" not in tb.breakers and "daily_loss" in tb.breakers and "market_wide" in tb.breakers
    with pytest.raises(ConfigError, match="breakers.vix.enabled"):
        TradingBreakers.from_config({"breakers": {"vix": {"enabled": "no"}}})


# -- clock convention -------------------------------------------------------------------------

def test_manual_clock_at_starts_at_the_datetime_in_epoch_ns() -> None:
    t = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
    clock = manual_clock_at(t)
    assert isinstance(clock, ManualClock)
    assert clock() == int(t.timestamp()) * 10**9
    assert ManualClock()() == 0  # the bare core clock starts at the epoch: use the helper

    async def main() -> None:
        async with TradingBreakers.from_config({}, clock=clock) as tb:
            st = tb.trip("kill_switch", "x")
            assert st.at_ns == clock()
            clock.advance(1.5)
            assert tb.reset("kill_switch").at_ns == int(t.timestamp()) * 10**9 + 1_500_000_000
        assert time.time_ns() > clock()  # nothing read the real clock into it

    asyncio.run(main())
    with pytest.raises(ValueError, match="timezone-aware"):
        manual_clock_at(datetime(2026, 3, 2))
