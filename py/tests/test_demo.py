"""`make demo` replays the synthetic day: every scripted episode must show up in its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[1] / "demo"


def test_demo_replays_every_episode_of_the_synthetic_day() -> None:
    out = subprocess.run(
        [sys.executable, str(DEMO / "trading_day.py")], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "SYNTHETIC" in out
    for line in [
        "10:00:00  TRIP      vix                REDUCE  VIX 30.50 >= 30",
        "10:05:00  TRIP      market_wide        HALT    level 1: index down 7.03%, halted 15 min",
        "10:06:00  TRIP      vix                HALT    VIX 41.20 >= 40",
        "10:20:00  RESET     market_wide        HALT    halt period over",
        "11:30:00  TRIP      venue_halt         REDUCE  XYZ halted",
        "11:40:00  RESET     venue_halt         REDUCE  XYZ resumed",
        "HALF_OPEN order_reject_rate",
        "13:01:00  RESET     order_reject_rate",
        "14:45:00  TRIP      daily_loss         HALT    daily loss 251,000 >= 250,000",
        "final status HALTED",
    ]:
        assert line in out, line


def test_synthetic_day_file_is_what_its_generator_writes(tmp_path: Path) -> None:
    checked_in = (DEMO / "synthetic_trading_day.csv").read_text()
    copy = tmp_path / "make_synthetic_day.py"
    copy.write_text((DEMO / "make_synthetic_day.py").read_text())
    subprocess.run([sys.executable, str(copy)], check=True, timeout=60)
    assert (tmp_path / "synthetic_trading_day.csv").read_text() == checked_in
