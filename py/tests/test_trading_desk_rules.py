"""The desk's rules at their edges, at simulated time: LULD per symbol, order throttles,
reduce-only, and the kill switch with its cancel-all."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringbreaker.trading import (
    EventKind,
    MarketSnapshot,
    Quote,
    Side,
    SymbolState,
    TradingBreakers,
    TradingState,
    TradingStatus,
    bands,
)

ET = ZoneInfo("America/New_York")


def at(hh: int, mm: int, ss: float = 0, day: int = 2, month: int = 3) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=ET) + timedelta(seconds=ss)


# -- LULD bands -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ref, tier, doubled, expected", [
    (100.00, 1, False, (95.00, 105.00)),       # Tier 1 above $3.00: 5 %
    (100.00, 2, False, (90.00, 110.00)),       # Tier 2 above $3.00: 10 %
    (3.01, 1, False, (2.86, 3.16)),            # 5 % of 3.01 = 0.1505: 2.8595 -> 2.86, 3.1605 -> 3.16
    (3.00, 1, False, (2.40, 3.60)),            # $0.75..$3.00 inclusive: 20 %
    (3.00, 2, False, (2.40, 3.60)),
    (0.75, 2, False, (0.60, 0.90)),            # 20 % at exactly $0.75
    (0.74, 2, False, (0.59, 0.89)),            # below $0.75: lesser of $0.15 or 75 % (0.555) -> 0.15
    (0.10, 1, False, (0.03, 0.18)),            # 75 % of 0.10 = 0.075 < 0.15: 0.025 -> 0.03, 0.175 -> 0.18
    (100.00, 1, True, (90.00, 110.00)),        # doubled at the close: Tier 1
    (100.00, 2, True, (90.00, 110.00)),        # Tier 2 above $3.00: not doubled (Amendment 18)
    (3.00, 2, True, (1.80, 4.20)),             # Tier 2 at or below $3.00: doubled
    (0.10, 2, True, (0.00, 0.25)),             # doubled: lesser of $0.30 or 150 % = 0.15; lower floored at 0
])
def test_band_parameters_by_tier_and_price(ref: float, tier: int, doubled: bool, expected: tuple[float, float]) -> None:
    assert bands(ref, tier, doubled) == expected


def test_penny_rounding_ties_go_half_away_from_zero() -> None:
    # 10.10 * 5 % = 0.505: upper 10.605 -> 10.61, lower 9.595 -> 9.60
    assert bands(10.10, 1, False) == (9.60, 10.61)


async def luld(checks: list[tuple[datetime, dict[str, Quote]]], cfg: dict[str, Any] | None = None
               ) -> tuple[list[TradingStatus], TradingBreakers]:
    config = {"breakers": {"luld": {"tier1": ["SPY"], **(cfg or {})}}}
    tb = TradingBreakers.from_config(config)
    out = [await tb.check(MarketSnapshot(timestamp=t, quotes=q)) for t, q in checks]
    await tb.close()
    return out, tb


def q(bid: float | None = None, ask: float | None = None, *trades: float) -> Quote:
    return Quote(bid=bid, ask=ask, trades=tuple(trades))


def test_limit_state_at_the_band_then_pause_at_15_seconds_exactly() -> None:
    t0 = at(11, 0)
    checks = [
        (t0, {"XYZ": q(99.9, 100.1, 100.0)}),                    # reference 100.00, bands 90..110 (Tier 2)
        (t0 + timedelta(seconds=1), {"XYZ": q(89.0, 90.01)}),     # offer one cent above the band: normal
        (t0 + timedelta(seconds=2), {"XYZ": q(89.0, 90.00)}),     # offer at the lower band: limit down
        (t0 + timedelta(seconds=16.999), {}),                     # 14.999 s: still limit state
        (t0 + timedelta(seconds=17), {}),                         # 15 s: trading pause
        (t0 + timedelta(seconds=17 + 299), {}),                   # paused for 5 minutes...
        (t0 + timedelta(seconds=17 + 300), {}),                   # ...then it resumes
    ]
    out, tb = asyncio.run(luld(checks))
    states = [s.symbols["XYZ"].state for s in out]
    assert states == [SymbolState.NORMAL, SymbolState.NORMAL, SymbolState.LIMIT_DOWN, SymbolState.LIMIT_DOWN,
                      SymbolState.PAUSED, SymbolState.PAUSED, SymbolState.NORMAL]
    assert (out[0].symbols["XYZ"].lower, out[0].symbols["XYZ"].upper) == (90.0, 110.0)
    assert "XYZ" in out[4].halted_symbols and out[4].state is TradingState.REDUCING
    assert not out[4].allows(Side.BUY, 0, symbol="XYZ") and out[4].allows(Side.SELL, 10, 5, symbol="ABC")
    assert "XYZ" not in out[6].halted_symbols and out[6].state is TradingState.ACTIVE
    trips = [e for e in tb.history() if e.kind is EventKind.TRIP]
    assert len(trips) == 1 and "LULD trading pause 5 min" in trips[0].reason


def test_a_manual_reset_does_not_end_a_luld_pause() -> None:
    async def main() -> list[Any]:
        async with TradingBreakers.from_config({"breakers": {"luld": {}}}) as tb:
            t0 = at(11, 0)
            await tb.check(MarketSnapshot(timestamp=t0, quotes={"XYZ": q(99.9, 100.1, 100.0)}))
            await tb.check(MarketSnapshot(timestamp=t0 + timedelta(seconds=1), quotes={"XYZ": q(89.0, 90.0)}))
            paused = await tb.check(MarketSnapshot(timestamp=t0 + timedelta(seconds=16)))
            tb.trip("luld", "belt and braces", by="ops", at=t0 + timedelta(seconds=20))
            after = tb.reset("luld", "done", by="ops", at=t0 + timedelta(seconds=30))
            return [paused.halted_symbols, after.halted_symbols, after.state]

    assert asyncio.run(main()) == [frozenset({"XYZ"}), frozenset({"XYZ"}), TradingState.REDUCING]


def test_limit_up_crossed_quotes_and_clearing_within_15_seconds() -> None:
    t0 = at(11, 0)
    checks = [
        (t0, {"XYZ": q(99.9, 100.1, 100.0)}),
        (t0 + timedelta(seconds=1), {"XYZ": q(110.00, 110.00)}),  # bid at upper band but crossed/locked: no
        (t0 + timedelta(seconds=2), {"XYZ": q(110.00, 110.05)}),  # bid at the upper band, not crossed: limit up
        (t0 + timedelta(seconds=16), {"XYZ": q(109.99, 110.05)}),  # cleared at 14 s
        (t0 + timedelta(seconds=40), {}),
    ]
    out, _ = asyncio.run(luld(checks))
    assert [s.symbols["XYZ"].state for s in out] == [SymbolState.NORMAL, SymbolState.NORMAL, SymbolState.LIMIT_UP,
                                                     SymbolState.NORMAL, SymbolState.NORMAL]


def test_reference_price_moves_only_on_a_change_of_one_percent() -> None:
    t0 = at(11, 0)
    checks = [
        (t0, {"XYZ": q(None, None, 100.0)}),
        (t0 + timedelta(minutes=5, seconds=1), {"XYZ": q(None, None, 100.99)}),  # mean 100.99: < 1 %, stays
        (t0 + timedelta(minutes=10, seconds=2), {"XYZ": q(None, None, 101.0)}),  # mean of the window 101.0: moves
        (t0 + timedelta(minutes=10, seconds=3), {"XYZ": q(None, None, 90.0)}),   # mean (101+90)/2 = 95.5: moves
    ]
    out, _ = asyncio.run(luld(checks))
    assert [s.symbols["XYZ"].reference for s in out] == [100.0, 100.0, 101.0, 95.5]
    assert (out[2].symbols["XYZ"].lower, out[2].symbols["XYZ"].upper) == (90.9, 111.1)


def test_reference_uses_only_the_preceding_five_minutes() -> None:
    t0 = at(11, 0)
    checks = [
        (t0, {"XYZ": q(None, None, 100.0)}),
        (t0 + timedelta(minutes=1), {"XYZ": q(None, None, 120.0)}),   # mean 110: moves
        (t0 + timedelta(minutes=6), {"XYZ": q(None, None, 120.0)}),   # the 100 is gone: mean 120
    ]
    out, _ = asyncio.run(luld(checks))
    assert [s.symbols["XYZ"].reference for s in out] == [100.0, 110.0, 120.0]


def test_doubling_from_15_35_for_tier_1_and_cheap_tier_2_only() -> None:
    checks = [
        (at(15, 34, 59), {"SPY": q(None, None, 100.0), "BIG": q(None, None, 100.0), "CHP": q(None, None, 2.0)}),
        (at(15, 35), {}),
    ]
    out, _ = asyncio.run(luld(checks))
    before, after = out[0].symbols, out[1].symbols
    assert (before["SPY"].lower, after["SPY"].lower) == (95.0, 90.0)    # Tier 1 doubles
    assert (before["BIG"].lower, after["BIG"].lower) == (90.0, 90.0)    # Tier 2 > $3: no doubling
    assert (before["CHP"].lower, after["CHP"].lower) == (1.6, 1.2)      # Tier 2 <= $3: doubles


def test_no_doubling_at_the_open() -> None:
    out, _ = asyncio.run(luld([(at(9, 30, 1), {"SPY": q(None, None, 100.0)})]))
    assert out[0].symbols["SPY"].lower == 95.0


def test_half_day_doubling_from_12_35() -> None:
    cfg = {"calendar": {"early_closes": ["2026-11-27"]}, "breakers": {"luld": {"tier1": ["SPY"]}}}

    async def main() -> list[float | None]:
        async with TradingBreakers.from_config(cfg) as tb:
            a = await tb.check(MarketSnapshot(timestamp=at(12, 34, 59, day=27, month=11),
                                              quotes={"SPY": q(None, None, 100.0)}))
            b = await tb.check(MarketSnapshot(timestamp=at(12, 35, day=27, month=11)))
            return [a.symbols["SPY"].lower, b.symbols["SPY"].lower]

    assert asyncio.run(main()) == [95.0, 90.0]


def test_a_pause_in_the_last_ten_minutes_is_not_reopened() -> None:
    t0 = at(15, 50)
    checks = [
        (t0, {"XYZ": q(None, None, 10.0)}),                       # Tier 2, > $3, bands 9..11 (no doubling)
        (t0 + timedelta(seconds=1), {"XYZ": q(8.9, 9.00)}),        # limit down at 15:50:01
        (t0 + timedelta(seconds=16), {}),                         # pause at 15:50:16: in the last 10 min
        (t0 + timedelta(minutes=9, seconds=59), {}),              # 15:59:59 still paused
        (at(16, 0), {}),                                          # the close: still paused
    ]
    out, tb = asyncio.run(luld(checks))
    assert [s.symbols["XYZ"].state for s in out[2:]] == [SymbolState.PAUSED] * 3
    assert out[2].symbols["XYZ"].paused_until_ns is None
    assert "until the close" in [e for e in tb.history() if e.kind is EventKind.TRIP][0].reason
    # a pause just before the last ten minutes reopens
    t1 = at(15, 49, 44)
    out, _ = asyncio.run(luld([(t1 - timedelta(seconds=1), {"XYZ": q(None, None, 10.0)}),
                               (t1, {"XYZ": q(8.9, 9.00)}), (t1 + timedelta(seconds=15), {})]))
    assert out[2].symbols["XYZ"].paused_until_ns is not None


def test_luld_is_idle_outside_regular_hours() -> None:
    out, _ = asyncio.run(luld([(at(9, 0), {"XYZ": q(8.0, 9.0, 10.0)}), (at(9, 20), {"XYZ": q(8.0, 9.0)})]))
    assert all(s.symbols["XYZ"].state is SymbolState.NORMAL and s.symbols["XYZ"].reference is None for s in out)


# -- order throttles --------------------------------------------------------------------------

def test_throttle_100_per_second_per_symbol_and_in_total() -> None:
    async def main() -> list[Any]:
        cfg = {"breakers": {"order_throttle": {"per_symbol": "100/1s", "total": "150/1s"}}}
        async with TradingBreakers.from_config(cfg) as tb:
            t = at(10, 0)
            ok = [tb.record_order("AAA", at=t + timedelta(milliseconds=i)) for i in range(101)]
            other = [tb.record_order("BBB", at=t + timedelta(milliseconds=200 + i)) for i in range(60)]
            cancel = tb.record_order("AAA", "cancel", at=t + timedelta(milliseconds=300))
            later = tb.record_order("AAA", at=t + timedelta(seconds=1, milliseconds=200))
            return [ok, other, cancel, later, tb.status().state, tb.statistics()["orders_rejected_by_throttle"]]

    ok, other, cancel, later, state, rejected = asyncio.run(main())
    assert ok == [True] * 100 + [False]                 # the 101st in the second is refused
    assert other == [True] * 50 + [False] * 10          # the total (150) binds
    assert cancel is True                               # cancels are never refused
    assert later is True                                # a second later the window has room again
    assert state is TradingState.ACTIVE and rejected == 11   # "reject" does not latch


def test_throttle_latch_halts_until_reset() -> None:
    async def main() -> list[Any]:
        cfg = {"breakers": {"order_throttle": {"per_symbol": "5/1s", "on_breach": "latch"}}}
        async with TradingBreakers.from_config(cfg) as tb:
            t = at(10, 0)
            results = [tb.record_order("AAA", at=t) for _ in range(6)]
            s1 = tb.status()
            s2 = await tb.check(MarketSnapshot(timestamp=t + timedelta(minutes=10)))
            after = tb.record_order("BBB", at=t + timedelta(minutes=10))
            s3 = tb.reset("order_throttle", "reviewed", by="risk")
            return [results, s1.state, s2.state, after, s3.state, tb.record_order("BBB", at=t + timedelta(minutes=11))]

    results, s1, s2, after, s3, final = asyncio.run(main())
    assert results == [True] * 5 + [False]
    assert (s1, s2, after, s3, final) == (TradingState.HALTED, TradingState.HALTED, False, TradingState.ACTIVE, True)


# -- reduce-only -----------------------------------------------------------------------------------

def test_reducing_means_reduce_only() -> None:
    async def main() -> TradingStatus:
        async with TradingBreakers.from_config({}) as tb:
            return await tb.check(MarketSnapshot(timestamp=at(10, 0), vix=31.0))

    st = asyncio.run(main())
    assert st.state is TradingState.REDUCING
    assert st.allows(Side.SELL, position=100, quantity=100)       # closes a long
    assert not st.allows(Side.SELL, position=100, quantity=101)   # would flip it short
    assert not st.allows(Side.BUY, position=100, quantity=1)      # grows a long
    assert st.allows("buy", position=-50, quantity=50)             # covers a short
    assert not st.allows(Side.SELL, position=0, quantity=1)       # opens a short
    assert not st.allows(Side.BUY, position=-50, quantity=51)
    with pytest.raises(ValueError):
        st.allows(Side.BUY, position=float("nan"))
    with pytest.raises(ValueError):
        st.allows(Side.BUY, position=0, quantity=0)
    active = TradingStatus(TradingState.ACTIVE, (), 0.0, "Trading active", 0)
    halted = TradingStatus(TradingState.HALTED, ("kill_switch",), 100.0, "halted", 0)
    assert active.allows(Side.BUY, 0) and not halted.allows(Side.SELL, 100, 1)


# -- kill switch -----------------------------------------------------------------------------------

def test_kill_switch_awaits_cancel_all_records_it_and_latches() -> None:
    calls: list[str] = []

    async def cancel_all() -> int:
        await asyncio.sleep(0.01)
        calls.append("cancel")
        return 17

    async def main() -> list[Any]:
        async with TradingBreakers.from_config({}, cancel_all=cancel_all) as tb:
            rec = await tb.kill("runaway algo", by="alice", at=at(10, 0))
            st = tb.status()
            later = await tb.check(MarketSnapshot(timestamp=at(10, 0, day=3)))  # a new day: still killed
            stats = tb.statistics()
            after = tb.reset("kill_switch", "fixed", by="bob", at=at(10, 5, day=3))
            return [rec, st, later.state, stats, after.state, tb.statistics()["kill"], tb.history()]

    rec, st, later, stats, after, kill_after, history = asyncio.run(main())
    assert calls == ["cancel"]
    assert (rec.by, rec.reason, rec.cancel_all, rec.result) == ("alice", "runaway algo", "ok", "17")
    assert rec.at_ns == int(at(10, 0).timestamp()) * 10**9
    assert st.state is TradingState.HALTED and "alice" in st.message
    assert later is TradingState.HALTED and stats["kill"]["by"] == "alice"
    assert after is TradingState.ACTIVE and kill_after is None
    reasons = [e.reason for e in history if e.breaker == "kill_switch"]
    assert reasons == ["manual trip by alice: runaway algo", "cancel-all ok: 17", "manual reset by bob: fixed"]


@pytest.mark.parametrize("behaviour, outcome", [("raise", "failed"), ("hang", "timeout"), ("sync", "ok")])
def test_cancel_all_failures_are_recorded_and_the_kill_still_latches(behaviour: str, outcome: str) -> None:
    async def cancel_all() -> None:
        if behaviour == "raise":
            raise ConnectionError("venue down")
        await asyncio.sleep(60)

    def sync_cancel() -> str:
        return "done"

    async def main() -> Any:
        fn: Any = sync_cancel if behaviour == "sync" else cancel_all
        async with TradingBreakers.from_config({}, cancel_all=fn, cancel_all_timeout=0.05) as tb:
            rec = await tb.kill("test", by="ops", at=at(10, 0))
            assert tb.status().state is TradingState.HALTED
            return rec

    rec = asyncio.run(main())
    assert rec.cancel_all == outcome
    if behaviour == "raise":
        assert rec.result == "ConnectionError: venue down"


def test_heartbeat_loss_kills_with_cancel_all() -> None:
    seen: list[str] = []

    async def cancel_all() -> str:
        seen.append("x")
        return "cancelled 3"

    async def main() -> Any:
        cfg = {"breakers": {"kill_switch": {"heartbeat_timeout": 2.0}}}
        async with TradingBreakers.from_config(cfg, cancel_all=cancel_all) as tb:
            tb.heartbeat(at=at(10, 0))
            await tb.check(MarketSnapshot(timestamp=at(10, 0, 2)))
            st = await tb.check(MarketSnapshot(timestamp=at(10, 0, 3)))
            await tb.check(MarketSnapshot(timestamp=at(10, 0, 4)))  # no second cancel-all
            return st, tb.statistics()["kill"]

    st, kill = asyncio.run(main())
    assert st.state is TradingState.HALTED and seen == ["x"]
    assert kill["by"] == "heartbeat monitor" and kill["cancel_all"] == "ok"
