"""The timeline picture: rendered from a known replay, checked through the figure's artists
(each band's time span), not by eye. Needs matplotlib, which py/requirements-dev.txt installs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringbreaker.trading import MarketSnapshot, TradingBreakers, TradingState

ET = ZoneInfo("America/New_York")
PRIOR = 5000.0


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 3, 2, hh, mm, tzinfo=ET)


def known_day() -> list[MarketSnapshot]:
    """Level-1 decline at 10:05 (halt to 10:20); VIX 31 from 10:30 to 10:39 (REDUCE, clears
    after 60 s below 25 at 10:41)."""
    out = []
    for m in range(0, 90):
        t = at(9, 31) + timedelta(minutes=m)
        drop = 0.071 if t >= at(10, 5) and t < at(10, 10) else 0.02
        vix = 31.0 if at(10, 30) <= t < at(10, 40) else 20.0
        out.append(MarketSnapshot(timestamp=t, index_level=PRIOR * (1 - drop), index_prior_close=PRIOR, vix=vix))
    return out


def spans(fig: Any, gid: str) -> list[tuple[datetime, datetime]]:
    import matplotlib.dates as mdates
    from matplotlib.patches import Polygon, Rectangle

    found = []
    for ax in fig.axes:
        for p in ax.patches:
            if p.get_gid() != gid:
                continue
            if isinstance(p, Rectangle):
                x0, x1 = p.get_x(), p.get_x() + p.get_width()
            else:
                assert isinstance(p, Polygon)
                xs = p.get_xy()[:, 0]
                x0, x1 = float(min(xs)), float(max(xs))
            found.append((mdates.num2date(x0).astimezone(ET).replace(microsecond=0),
                          mdates.num2date(x1).astimezone(ET).replace(microsecond=0)))
    return sorted(set(found))


def test_plot_draws_bands_at_the_right_times(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'ringbreaker[plot]'")

    async def main() -> Any:
        async with TradingBreakers.from_config({"breakers": {"vix": {"clear_after": 60.0}}}) as tb:
            statuses = await tb.replay(known_day())
            assert statuses[34].state is TradingState.HALTED  # 10:05
            return tb.plot(tmp_path / "day.png", title="known day")

    fig = asyncio.run(main())
    assert (tmp_path / "day.png").stat().st_size > 10_000
    assert spans(fig, "open:market_wide") == [(at(10, 5), at(10, 20))]
    assert spans(fig, "open:vix") == [(at(10, 30), at(10, 41))]
    assert spans(fig, "state:halted") == [(at(10, 5), at(10, 20))]
    assert spans(fig, "state:reducing") == [(at(10, 30), at(10, 41))]
    assert spans(fig, "state:active") == [(at(9, 31), at(10, 5)), (at(10, 20), at(10, 30)), (at(10, 41), at(11, 0))]
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines()}
    assert len(lines["line:index"].get_xdata()) == 90 and max(lines["line:vix"].get_ydata()) == 31.0
    assert fig._suptitle.get_text() == "known day"
