"""The trading breakers' rules at their edges."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringbreaker.trading import (
    BreakerType,
    ConfigError,
    EventKind,
    MarketSnapshot,
    TradingBreakers,
    TradingState,
)

ET = ZoneInfo("America/New_York")
PRIOR = 5000.0


def at(hh: int, mm: int, ss: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hh, mm, ss, tzinfo=ET)


def snap(t: datetime, drop: float | None = None, **kw: Any) -> MarketSnapshot:
    level = None if drop is None else PRIOR * (1 - drop)
    return MarketSnapshot(timestamp=t, index_level=level, index_prior_close=PRIOR, **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def market_wide(*checks: tuple[datetime, float]) -> list[TradingState]:
    async with TradingBreakers.from_config({"breakers": {"market_wide": {}}}) as tb:
        return [(await tb.check(snap(t, d))).state for t, d in checks]


def test_minus_6_99_percent_does_not_halt() -> None:
    assert run(market_wide((at(10, 0), 0.0699))) == [TradingState.ACTIVE]


def test_minus_7_percent_at_15_24_59_halts_for_15_minutes() -> None:
    t = at(15, 24, 59)
    states = run(market_wide((t, 0.07), (t + timedelta(minutes=14, seconds=59), 0.07),
                             (t + timedelta(minutes=15), 0.07)))
    assert states == [TradingState.HALTED, TradingState.HALTED, TradingState.ACTIVE]


def test_cutoff_is_up_to_and_including_15_25_per_rule_7_12() -> None:
    # NYSE Rule 7.12: a Level 1 or 2 decline "up to and including 3:25 p.m." halts.
    assert run(market_wide((at(15, 25), 0.07))) == [TradingState.HALTED]
    just_after = at(15, 25) + timedelta(microseconds=1)
    assert run(market_wide((just_after, 0.07))) == [TradingState.ACTIVE]
    assert run(market_wide((at(15, 25, 1), 0.13))) == [TradingState.ACTIVE]


def test_level_1_halts_once_a_day_and_level_2_halts_again() -> None:
    states = run(market_wide(
        (at(10, 0), 0.07),          # level 1: halt
        (at(10, 20), 0.075),        # after the halt; still below -7 %: no second level-1 halt
        (at(11, 0), 0.071),
        (at(12, 0), 0.13),          # level 2: halt again
        (at(12, 16), 0.13),
    ))
    assert states == [TradingState.HALTED, TradingState.ACTIVE, TradingState.ACTIVE,
                      TradingState.HALTED, TradingState.ACTIVE]


def test_level_2_after_cutoff_does_not_halt() -> None:
    assert run(market_wide((at(15, 30), 0.14))) == [TradingState.ACTIVE]


def test_level_3_at_15_50_halts_to_the_close() -> None:
    states = run(market_wide((at(15, 50), 0.20), (at(16, 30), 0.05), (at(23, 59, 59), 0.0)))
    assert states == [TradingState.HALTED] * 3


def test_a_new_day_rearms_every_level() -> None:
    states = run(market_wide(
        (at(10, 0), 0.07), (at(11, 0), 0.13), (at(15, 50), 0.20),
        (at(9, 35, day=3), 0.0),      # next day: level 3 halt is over
        (at(10, 0, day=3), 0.07),     # level 1 fires again
        (at(11, 0, day=3), 0.13),
    ))
    assert states == [TradingState.HALTED] * 3 + [TradingState.ACTIVE, TradingState.HALTED, TradingState.HALTED]


def test_gap_straight_to_level_2_consumes_level_1() -> None:
    states = run(market_wide((at(10, 0), 0.13), (at(10, 20), 0.13), (at(10, 30), 0.08)))
    assert states == [TradingState.HALTED, TradingState.ACTIVE, TradingState.ACTIVE]


def test_vix_reduce_halt_and_hysteresis() -> None:
    async def main() -> list[TradingState]:
        async with TradingBreakers.from_config({"breakers": {"vix": {}}}) as tb:
            t = at(10, 0)
            out = []
            for minutes, vix in [(0, 29.9), (1, 30), (2, 40), (3, 35), (4, 24.9), (18, 24), (19, 24.9),
                                 (20, 26), (21, 24), (36, 24)]:
                out.append((await tb.check(MarketSnapshot(timestamp=t + timedelta(minutes=minutes), vix=vix))).state)
            # the escalation from REDUCE to HALT is an event of its own
            trail = [(e.kind.value, e.effect.value) for e in tb.history() if e.kind.value != "warning"]
            assert trail == [("trip", "reduce"), ("trip", "halt"), ("reset", "reduce")]
            return out

    A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
    # below 25 from minute 4: 15 min later (minute 19) it clears; 26 at minute 20 restarts nothing
    assert run(main()) == [A, R, H, H, H, H, A, A, A, A]


def test_daily_loss_latches_until_next_session_or_reset() -> None:
    async def main() -> list[TradingState]:
        async with TradingBreakers.from_config({"breakers": {"daily_loss": {"limit": 1000}}}) as tb:
            out = [(await tb.check(MarketSnapshot(timestamp=at(10, 0), daily_pnl=-1000))).state,
                   (await tb.check(MarketSnapshot(timestamp=at(11, 0), daily_pnl=500))).state,
                   (await tb.check(MarketSnapshot(timestamp=at(9, 30, day=3), daily_pnl=0))).state]
            await tb.check(MarketSnapshot(timestamp=at(10, 0, day=3), daily_pnl=-2000))
            out.append(tb.reset("daily_loss", "risk manager override").state)
            return out

    assert run(main()) == [TradingState.HALTED, TradingState.HALTED, TradingState.ACTIVE, TradingState.ACTIVE]


def test_drawdown_exposure_staleness() -> None:
    async def main() -> list[tuple[str, ...]]:
        cfg = {"breakers": {"drawdown": {"max_drawdown": 0.1}, "exposure": {"limit": 100.0},
                            "market_data_staleness": {"max_age": 5.0}}}
        async with TradingBreakers.from_config(cfg) as tb:
            t = at(10, 0)
            out = []
            for s in [MarketSnapshot(timestamp=t, equity=1000, gross_exposure=50, last_market_data=t),
                      MarketSnapshot(timestamp=t + timedelta(seconds=1), equity=899, gross_exposure=100),
                      MarketSnapshot(timestamp=t + timedelta(seconds=7), equity=1000, gross_exposure=95),
                      MarketSnapshot(timestamp=t + timedelta(seconds=8), gross_exposure=80,
                                     last_market_data=t + timedelta(seconds=8))]:
                out.append((await tb.check(s)).tripped)
            return out

    assert run(main()) == [(), ("drawdown", "exposure"), ("drawdown", "exposure", "market_data_staleness"),
                           ("drawdown",)]


def test_order_rejects_trip_half_open_and_recover() -> None:
    clock = [at(10, 0).timestamp()]

    def now_ns() -> int:
        return int(clock[0] * 1e9)

    async def main() -> list[TradingState]:
        cfg = {"breakers": {"order_reject_rate": {"minimum_calls": 4, "open_duration": 30.0}}}
        async with TradingBreakers.from_config(cfg, clock=now_ns) as tb:
            out = []
            for rejected in (False, False, True, True):
                tb.record_order_result(rejected=rejected)
            out.append(tb.status().state)          # 2 of 4 rejected: HALTED
            clock[0] += 30
            await tb.check(MarketSnapshot(timestamp=datetime.fromtimestamp(clock[0], ET)))
            out.append(tb.status().state)          # open duration over: REDUCING (trial orders)
            tb.record_order_result(rejected=False)  # the trial succeeds
            out.append(tb.status().state)
            kinds = [e.kind for e in tb.history()]
            assert kinds == [EventKind.TRIP, EventKind.HALF_OPEN, EventKind.RESET]
            return out

    assert run(main()) == [TradingState.HALTED, TradingState.REDUCING, TradingState.ACTIVE]


def test_stop_loss_streak_message_rate_and_fills() -> None:
    async def main() -> dict[str, Any]:
        cfg = {"breakers": {"stop_loss_streak": {"consecutive_failures": 3},
                            "message_rate": {"max_count": 5, "window": 1.0},
                            "execution_throttle": {"max_count": 3}}}
        ticks = iter(range(10**9, 10**12, 1000))
        async with TradingBreakers.from_config(cfg, clock=lambda: next(ticks)) as tb:
            for pnl in (-1, -1, 5, -1, -1):
                tb.record_trade(pnl)
            first = tb.status().tripped
            tb.record_trade(-1)
            second = tb.status().tripped
            for _ in range(5):
                tb.record_message()
            third = tb.status().tripped
            for _ in range(3):
                tb.record_fill()
            fourth = tb.status()
            return {"first": first, "second": second, "third": third, "fourth": fourth}

    r = run(main())
    assert r["first"] == ()
    assert r["second"] == ("stop_loss_streak",)
    assert r["third"] == ("message_rate", "stop_loss_streak")
    assert r["fourth"].tripped == ("execution_throttle", "message_rate", "stop_loss_streak")
    assert r["fourth"].state is TradingState.HALTED


def test_venue_halt_mirrors_until_resume_and_kill_switch_latches() -> None:
    async def main() -> list[Any]:
        async with TradingBreakers.from_config({}) as tb:
            out: list[Any] = []
            s = await tb.check(MarketSnapshot(timestamp=at(10, 0), halted=frozenset({"XYZ"})))
            out.append((s.state, s.halted_symbols, s.message))
            s = await tb.check(MarketSnapshot(timestamp=at(10, 1)))  # no report: still halted
            out.append(s.halted_symbols)
            s = await tb.check(MarketSnapshot(timestamp=at(10, 2), halted=frozenset()))
            out.append(s.state)
            with pytest.raises(ValueError, match="resumes"):
                tb.reset("venue_halt")
            out.append(tb.trip("kill_switch", "operator").state)
            out.append((await tb.check(MarketSnapshot(timestamp=at(15, 0, day=4)))).state)  # still latched
            out.append(tb.reset("kill_switch", "operator").state)
            return out

    out = run(main())
    assert out[0] == (TradingState.REDUCING, frozenset({"XYZ"}), "Trading reducing: venue_halt (XYZ)")
    assert out[1] == frozenset({"XYZ"})
    assert out[2:] == [TradingState.ACTIVE, TradingState.HALTED, TradingState.HALTED, TradingState.ACTIVE]


def test_kill_switch_on_heartbeat_loss() -> None:
    ns = [10**18]

    async def main() -> list[TradingState]:
        cfg = {"breakers": {"kill_switch": {"heartbeat_timeout": 2.0}}}
        async with TradingBreakers.from_config(cfg, clock=lambda: ns[0]) as tb:
            tb.heartbeat()
            t0 = datetime.fromtimestamp(ns[0] / 1e9, ET)
            a = (await tb.check(MarketSnapshot(timestamp=t0 + timedelta(seconds=2)))).state
            b = (await tb.check(MarketSnapshot(timestamp=t0 + timedelta(seconds=3)))).state
            return [a, b]

    assert run(main()) == [TradingState.ACTIVE, TradingState.HALTED]


def test_config_errors_name_the_key_path(tmp_path: Path) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"breakers": {"vix": {"halt_at": "high"}}}, "breakers.vix.halt_at"),
        ({"breakers": {"vix": {"reduce_at": 50}}}, "breakers.vix.reduce_at"),
        ({"breakers": {"odd": {}}}, "breakers.odd.type"),
        ({"breakers": {"mw": {"type": "market_wide", "cutoff": "25:99"}}}, "breakers.mw.cutoff"),
        ({"breakers": {"daily_loss": {"limit": -5}}}, "breakers.daily_loss.limit"),
        ({"breakers": {"order_reject_rate": {"failure_rate": 2}}}, "breakers.order_reject_rate.failure_rate"),
        ({"breakers": {"kill_switch": {"effect": "panic"}}}, "breakers.kill_switch.effect"),
        ({"history_size": 0}, "history_size"),
        ({"histroy_size": 10}, "histroy_size"),
    ]
    for cfg, path in bad:
        with pytest.raises(ConfigError) as info:
            TradingBreakers.from_config(cfg)
        assert info.value.path == path, info.value
        assert str(info.value).startswith(path)
    toml = tmp_path / "desk.toml"
    toml.write_text('history_size = 100\n[breakers.vix]\nhalt_at = 45\n[breakers.api]\ntype = "api_error_rate"\n')
    tb = TradingBreakers.from_config(toml)
    assert {b.type for b in tb.breakers.values()} == {BreakerType.VIX, BreakerType.API_ERROR_RATE,
                                                      BreakerType.MARKET_WIDE, BreakerType.VENUE_HALT,
                                                      BreakerType.KILL_SWITCH, BreakerType.DATA_QUALITY}
    toml.write_text("[breakers\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        TradingBreakers.from_config(toml)


def test_snapshot_timestamps_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MarketSnapshot(timestamp=datetime(2026, 3, 2, 10, 0))
