"""`make demo` replays the synthetic day: every scripted episode must show up in its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[1] / "demo"


def test_demo_replays_every_episode_of_the_synthetic_day(tmp_path: Path) -> None:
    image = tmp_path / "day.png"
    out = subprocess.run(
        [sys.executable, str(DEMO / "trading_day.py"), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
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
        "13:01:01  RESET     order_reject_rate  HALT    trials succeeded",
        "12:02:00  WARNING   luld               REDUCE  ABC: limit down at 45.00 (bands 45.00..55.00)",
        "12:02:15  TRIP      luld               REDUCE  ABC: LULD trading pause 5 min (limit down not cleared in 15 s)",
        "12:07:15  RESET     luld               REDUCE  ABC: LULD pause over, trading resumes",
        "13:30:00  TRIP      order_throttle     HALT    ABC: per-symbol order rate 100/1s reached",
        "13:35:00  RESET     order_throttle     HALT    manual reset by risk desk: runaway algo stopped",
        "refused by the throttle 1;",
        "14:45:00  TRIP      daily_loss         HALT    daily loss 251,000 >= 250,000",
        "final status HALTED",
    ]:
        assert line in out, line
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "timeline image skipped: matplotlib is not installed" in out
    else:
        assert "timeline image written" in out and image.stat().st_size > 10_000


def test_synthetic_day_file_is_what_its_generator_writes(tmp_path: Path) -> None:
    checked_in = (DEMO / "synthetic_trading_day.csv").read_text()
    copy = tmp_path / "make_synthetic_day.py"
    copy.write_text((DEMO / "make_synthetic_day.py").read_text())
    subprocess.run([sys.executable, str(copy)], check=True, timeout=60)
    assert (tmp_path / "synthetic_trading_day.csv").read_text() == checked_in
    assert (tmp_path / "synthetic_abc_ticks.csv").read_text() == (DEMO / "synthetic_abc_ticks.csv").read_text()
