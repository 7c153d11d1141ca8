"""`make demo`: a synthetic trading day replayed through ringbreaker.trading at simulated time.

The day (synthetic_trading_day.csv, made by make_synthetic_day.py) is invented, not market
data. Each minute the desk's snapshot goes through `check()`; between checks the minute's
orders are recorded at their own simulated times, and only while the desk is not HALTED
(cancels would still go out: no breaker ever blocks a cancel). Every breaker event and every
change of the desk's status is printed, then a summary table.
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

from ringbreaker.trading import BreakerEvent, EventKind, MarketSnapshot, TradingBreakers, TradingState

ET = ZoneInfo("America/New_York")
DATA = Path(__file__).with_name("synthetic_trading_day.csv")

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
                            int(r["orders"]), int(r["rejects"])))
    return prior_close, rows


def hhmmss(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, ET).strftime("%H:%M:%S")


async def main() -> int:
    started = time.perf_counter()
    prior_close, rows = load()
    print("ringbreaker.trading demo: replaying a SYNTHETIC trading day (invented data, not market data)")
    print(f"{rows[0].at:%A %Y-%m-%d}, {rows[0].at:%H:%M} to {rows[-1].at:%H:%M} America/New_York, "
          f"index prior close {prior_close:,.2f}\n")

    now_ns = [0]
    held = sent = 0
    printed = 0
    last_state = TradingState.ACTIVE
    async with TradingBreakers.from_config(CONFIG, clock=lambda: now_ns[0]) as tb:

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

        for row in rows:
            now_ns[0] = int(row.at.timestamp()) * 1_000_000_000
            await tb.check(MarketSnapshot(timestamp=row.at, index_level=row.index, index_prior_close=prior_close,
                                          vix=row.vix, daily_pnl=row.pnl, halted=row.halted))
            report()
            # the minute's orders, evenly spaced; the first `rejects` of them are rejected
            for i in range(row.orders):
                now_ns[0] = int((row.at + timedelta(seconds=60 * i / row.orders)).timestamp()) * 1_000_000_000
                if tb.status().state is TradingState.HALTED:
                    held += 1
                    continue
                sent += 1
                tb.record_order_result(rejected=i < row.rejects)
                report()

        summary(tb.history(), tb.statistics(), rows[-1].at, sent, held)
    print(f"\nreplayed {len(rows)} minutes in {time.perf_counter() - started:.2f} s wall time")
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


def summary(events: tuple[BreakerEvent, ...], stats: dict[str, object], close: datetime, sent: int, held: int) -> None:
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
    print(f"\n  orders sent {sent:,}, held while halted {held:,}; checks {stats['checks']}, events {stats['events']}, "
          f"final status {str(stats['state']).upper()}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
