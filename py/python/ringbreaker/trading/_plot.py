"""A picture of the day: index and VIX lines, each breaker's open periods as shaded bands, and
the desk's status strip underneath. Needs matplotlib (the ``plot`` extra).

Every band carries a label (``gid``) so that tests, and tools, can find it:
``"open:<breaker>"`` for a breaker's open period and ``"state:<state>"`` for the status strip."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ._model import BreakerEvent, BreakerType, EventKind, TradingState

NS = 1_000_000_000
STATE_COLOURS = {TradingState.ACTIVE: "#2e7d32", TradingState.REDUCING: "#f9a825", TradingState.HALTED: "#c62828"}


def open_periods(history: Sequence[BreakerEvent], end_ns: int) -> list[tuple[str, int, int]]:
    """(breaker, from_ns, to_ns) for each period a breaker was open: from the TRIP that opened it
    (an escalation while open is the same period) to its RESET; a period still open at the end
    runs to ``end_ns``. Per-symbol breakers (venue halts, LULD) trip and reset per symbol: their
    period lasts while any symbol is open (a manual reset ends it)."""
    opened: dict[str, int] = {}
    depth: dict[str, int] = {}
    out = []
    for e in history:
        per_symbol = e.breaker_type in (BreakerType.VENUE_HALT, BreakerType.LULD)
        if e.kind is EventKind.TRIP:
            depth[e.breaker] = depth.get(e.breaker, 0) + 1 if per_symbol else 1
            opened.setdefault(e.breaker, e.at_ns)
        elif e.kind is EventKind.RESET and e.breaker in opened:
            depth[e.breaker] -= 1
            if depth[e.breaker] <= 0 or e.reason.startswith("manual reset"):
                out.append((e.breaker, opened.pop(e.breaker), e.at_ns))
                depth[e.breaker] = 0
    for name, start in opened.items():
        out.append((name, start, end_ns))
    return sorted(out, key=lambda p: (p[1], p[0]))


def state_periods(timeline: Sequence[Any]) -> list[tuple[TradingState, int, int]]:
    """(state, from_ns, to_ns) runs of the desk's state over the checks."""
    out: list[tuple[TradingState, int, int]] = []
    for i, p in enumerate(timeline):
        end = timeline[i + 1].at_ns if i + 1 < len(timeline) else p.at_ns
        if out and out[-1][0] is p.state:
            out[-1] = (p.state, out[-1][1], end)
        else:
            out.append((p.state, p.at_ns, end))
    return out


def plot_timeline(timeline: Sequence[Any], history: Sequence[BreakerEvent],
                  path: str | os.PathLike[str] | None = None, *, title: str | None = None,
                  tz: str = "America/New_York") -> Any:
    """The figure of a replay: ``timeline`` from :meth:`TradingBreakers.timeline`, ``history``
    from :meth:`TradingBreakers.history`. Written to ``path`` if given; returned either way."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'ringbreaker[plot]'") from e
    zone = ZoneInfo(tz)

    def t(ns: int) -> datetime:
        return datetime.fromtimestamp(ns / NS, zone)

    end_ns = timeline[-1].at_ns if timeline else (history[-1].at_ns if history else 0)
    periods = open_periods(history, end_ns)
    names = sorted({p[0] for p in periods})
    fig, (ax_px, ax_br, ax_st) = plt.subplots(3, 1, sharex=True, figsize=(12, 7),
                                              gridspec_kw={"height_ratios": [4, max(1, len(names)) * 0.6, 0.6]})
    xs = [t(p.at_ns) for p in timeline]
    ax_px.plot([x for x, p in zip(xs, timeline) if p.index_level is not None],
               [p.index_level for p in timeline if p.index_level is not None], color="#1565c0", label="index",
               gid="line:index")
    ax_px.set_ylabel("index")
    ax_vix = ax_px.twinx()
    ax_vix.plot([x for x, p in zip(xs, timeline) if p.vix is not None],
                [p.vix for p in timeline if p.vix is not None], color="#6a1b9a", label="VIX", gid="line:vix")
    ax_vix.set_ylabel("VIX")
    for name, a, b in periods:
        colour = "#c62828" if any(e.breaker == name and e.effect.name == "HALT" for e in history) else "#f9a825"
        ax_px.axvspan(t(a), t(b), color=colour, alpha=0.12, gid=f"open:{name}")
        row, rows = names.index(name), max(1, len(names))
        ax_br.axvspan(t(a), t(b), ymin=(row + 0.1) / rows, ymax=(row + 0.9) / rows, color=colour,
                      gid=f"open:{name}")
    ax_br.set_ylim(0, max(1, len(names)))
    ax_br.set_yticks([i + 0.5 for i in range(len(names))], names)
    for state, a, b in state_periods(timeline):
        ax_st.axvspan(t(a), t(b), color=STATE_COLOURS[state], gid=f"state:{state.value}")
    ax_st.set_yticks([])
    ax_st.set_ylabel("status", rotation=0, ha="right")
    ax_st.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))  # type: ignore[no-untyped-call]
    lines = ax_px.get_lines() + ax_vix.get_lines()
    ax_px.legend(lines, [ln.get_label() for ln in lines], loc="lower left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), dpi=100)
    return fig
