"""`make demo`: a synthetic trading day replayed through ringbreaker.trading at simulated time.

The day (synthetic_trading_day.csv and synthetic_abc_ticks.csv, made by make_synthetic_day.py)
is invented, not market data. Each minute the desk's snapshot goes through `check()`, and so
does each tick of symbol ABC (for the LULD rule); between checks the minute's orders are
recorded at their own simulated times (`at=`), each first asking the order throttle, and only
while the desk's status allows them. Every breaker event and every change of the desk's status
is printed, then a summary table; the timeline image is written with `tb.plot()` when
matplotlib is installed (`pip install 'ringbreaker[plot]'`).

Usage: trading_day.py [IMAGE]   (default: target/demo/trading_day.png)
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ringbreaker.trading import BreakerEvent, EventKind, MarketSnapshot, Quote, Side, TradingBreakers, TradingState

ET = ZoneInfo("America/New_York")
DATA = Path(__file__).with_name("synthetic_trading_day.csv")
TICKS = Path(__file__).with_name("synthetic_abc_ticks.csv")
IMAGE = Path(__file__).parents[2] / "target" / "demo" / "trading_day.png"
SYMBOLS = ("ABC", "DEF", "GHI")

CONFIG = {
    "history_size": 10_000,
    "breakers": {
        # the standard set ...
        "market_wide": {},
        "vix": {},
        "venue_halt": {},
        "kill_switch": {},
        # ... and the desk's own
        "order_reject_rate": {"window": 60.0, "buckets": 12, "failure_rate": 0.5, "minimum_calls": 20,
                              "open_duration": 30.0},
        "daily_loss": {"limit": 250_000.0},
        "luld": {"tier1": ["SPY"]},
        "order_throttle": {"per_symbol": "100/1s", "total": "400/1s", "on_breach": "latch"},
    },
}


@dataclass
class Row:
    at: datetime
    index: float
    vix: float
    pnl: float
    halted: frozenset[str]
    orders: int
    rejects: int
    burst: int


def load() -> tuple[float, list[Row]]:
    with DATA.open() as f:
        f.readline()  # the "synthetic data" banner
        meta = dict(kv.split("=") for kv in f.readline().lstrip("# ").split())
        day = datetime.fromisoformat(meta["date"]).date()
        prior_close = float(meta["prior_close"])
        rows = []
        for r in csv.DictReader(f):
            hh, mm, ss = (int(x) for x in r["time"].split(":"))
            rows.append(Row(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ET), float(r["index"]),
                            float(r["vix"]), float(r["daily_pnl"]), frozenset(filter(None, r["halted"].split(";"))),
                            int(r["orders"]), int(r["rejects"]), int(r["burst"])))
    return prior_close, rows


def load_ticks(day: datetime) -> dict[datetime, Quote]:
    with TICKS.open() as f:
        f.readline(), f.readline()
        out = {}
        for r in csv.DictReader(f):
            hh, mm, ss = (int(x) for x in r["time"].split(":"))
            trades = (float(r["trades"]),) if r["trades"] else ()
            out[datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ET)] = Quote(
                bid=float(r["bid"]), ask=float(r["ask"]), trades=trades)
    return out


def hhmmss(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, ET).strftime("%H:%M:%S")


async def main(image: Path) -> int:
    started = time.perf_counter()
    prior_close, rows = load()
    ticks = load_ticks(rows[0].at)
    print("ringbreaker.trading demo: replaying a SYNTHETIC trading day (invented data, not market data)")
    print(f"{rows[0].at:%A %Y-%m-%d}, {rows[0].at:%H:%M} to {rows[-1].at:%H:%M} America/New_York, "
          f"index prior close {prior_close:,.2f}\n")

    held = sent = throttled = 0
    printed = 0
    last_state = TradingState.ACTIVE
    async with TradingBreakers.from_config(CONFIG) as tb:

        def report() -> None:
            nonlocal printed, last_state
            events = tb.history()
            for e in events[printed:]:
                show(e)
            printed = len(events)
            st = tb.status()
            if st.state is not last_state:
                print(f"{hhmmss(st.at_ns)}  {'STATUS':9} {st.state.name:8} {st.message}  (risk {st.risk_score:.0f})")
                last_state = st.state

        # the desk is unwinding a long book: every order sells 100, so it is allowed while
        # REDUCING (reduce-only), held while HALTED or while its symbol is halted or paused
        position = {sym: 1_000_000.0 for sym in SYMBOLS}

        def order(symbol: str, at: datetime, rejected: bool) -> None:
            nonlocal held, sent, throttled
            if not tb.status().allows(Side.SELL, position=position[symbol], quantity=100, symbol=symbol):
                held += 1
                return
            if not tb.record_order(symbol, at=at):
                throttled += 1
                return
            sent += 1
            tb.record_order_result(rejected=rejected, at=at)
            if not rejected:
                position[symbol] -= 100

        tick_times = sorted(ticks)
        k = 0
        for row in rows:
            while k < len(tick_times) and tick_times[k] < row.at:  # ABC's ticks between the minutes
                await tb.check(MarketSnapshot(timestamp=tick_times[k], quotes={"ABC": ticks[tick_times[k]]}))
                report()
                k += 1
            quotes = {"ABC": ticks[row.at]} if row.at in ticks else None
            k += row.at in ticks
            await tb.check(MarketSnapshot(timestamp=row.at, index_level=row.index, index_prior_close=prior_close,
                                          vix=row.vix, daily_pnl=row.pnl, halted=row.halted, quotes=quotes))
            report()
            for i in range(row.burst):  # a runaway algo: `burst` ABC orders within one second
                order("ABC", row.at + timedelta(seconds=i / (row.burst + 1)), rejected=False)
            report()
            if row.at.hour == 13 and row.at.minute == 35 and tb.breaker("order_throttle").is_open:
                tb.reset("order_throttle", "runaway algo stopped", by="risk desk", at=row.at)
                report()
            # the minute's orders, evenly spaced; the first `rejects` of them are rejected
            for i in range(row.orders):
                order(SYMBOLS[i % 3], row.at + timedelta(seconds=1 + 58 * i / row.orders), rejected=i < row.rejects)
                report()

        summary(tb.history(), tb.statistics(), rows[-1].at, sent, held, throttled)
        try:
            tb.plot(image, title="ringbreaker.trading: a synthetic day (invented data)")
        except ImportError:
            print("\ntimeline image skipped: matplotlib is not installed (pip install 'ringbreaker[plot]')")
        else:
            print(f"\ntimeline image written to {image.relative_to(Path.cwd()) if image.is_relative_to(Path.cwd()) else image}")
    print(f"replayed {len(rows)} minutes and {len(ticks)} ABC ticks in {time.perf_counter() - started:.2f} s wall time")
    return 0


def show(e: BreakerEvent) -> None:
    print(f"{hhmmss(e.at_ns)}  {e.kind.name:9} {e.breaker:18} {e.effect.name:6}  {e.reason}")


@dataclass
class Tally:
    trips: int = 0
    warnings: int = 0
    first_trip: str = "-"
    open_s: int = 0
    opened_ns: int | None = None


def summary(events: tuple[BreakerEvent, ...], stats: dict[str, object], close: datetime, sent: int, held: int,
            throttled: int) -> None:
    table: dict[str, Tally] = {}
    for e in events:
        t = table.setdefault(e.breaker, Tally())
        if e.kind is EventKind.WARNING:
            t.warnings += 1
        elif e.kind is EventKind.TRIP:
            t.trips += 1
            if t.first_trip == "-":
                t.first_trip = hhmmss(e.at_ns)
            if t.opened_ns is None:
                t.opened_ns = e.at_ns
        elif e.kind is EventKind.RESET and t.opened_ns is not None:
            t.open_s += (e.at_ns - t.opened_ns) // 1_000_000_000
            t.opened_ns = None
    end_ns = int(close.timestamp()) * 1_000_000_000
    print("\nsummary")
    print(f"  {'breaker':18} {'trips':>5} {'warnings':>8} {'first trip':>10} {'time open':>9}  at the close")
    for name, t in sorted(table.items()):
        open_s = t.open_s + (0 if t.opened_ns is None else (end_ns - t.opened_ns) // 1_000_000_000)
        mins, secs = divmod(open_s, 60)
        state = "closed" if t.opened_ns is None else "OPEN"
        print(f"  {name:18} {t.trips:>5} {t.warnings:>8} {t.first_trip:>10} {mins:>6}:{secs:02d}  {state}")
    print(f"\n  orders sent {sent:,}, held by the status {held:,}, refused by the throttle {throttled:,}; "
          f"checks {stats['checks']}, events {stats['events']}, final status {str(stats['state']).upper()}")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else IMAGE
    out.parent.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(out.resolve())))
