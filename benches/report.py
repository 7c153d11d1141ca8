"""Write benches/RESULTS.md from a bench run. Standard library only.

`report.py` (after `make bench`): criterion's estimates (target/criterion), the footprint run,
the C loop, callgrind, the pinning check and the Python driver (target/bench) make the full
section of RESULTS.md. `report.py --quick` (after `make bench-quick`): the quick binary's
figures (target/bench/quick.txt) and the Python driver's quick run make the quick section.
Each mode rewrites only its own section, prints its targets table, and appends the run's target
figures to benches/history.json, against which the next run on the same CPU model compares
(a figure more than 5 % worse than there is flagged). `BENCH_NOTE` (environment) is printed
above the run's tables, e.g. to say the machine was shared.

Every ratio is between figures of one run; in quick mode and for Python, the median over
rounds of the ratio within a round.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CRITERION = ROOT / "target" / "criterion"
OUT = ROOT / "target" / "bench"
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "benches" / "RESULTS.md"))
HISTORY = Path(os.environ.get("BENCH_HISTORY", ROOT / "benches" / "history.json"))
REGRESSION = 0.05

# key, label, comparison ("<=" / ">=" / None for shown only), limit, which way is better
TARGETS: list[tuple[str, str, str | None, float | None, str]] = [
    ("one_thread_vs_floor", "one thread: acquire + record at caller time ÷ `fetch_add` floor", "<=", 1.5, "low"),
    ("one_thread_realistic_vs_floor", "… caller time crossing 1 s buckets (1 µs a call)", "<=", 1.5, "low"),
    ("one_thread_worst_vs_floor", "… every call in a new bucket (worst case)", None, None, "low"),
    ("call_vs_coarse_loop", "`call()`, no slow-call detection ÷ caller-time loop + one coarse clock read", "<=", 1.2, "low"),
    ("call_vs_clock_loop", "… ÷ caller-time loop + one precise clock read", None, None, "low"),
    ("two_threads_vs_shared", "two threads, one breaker ÷ shared-counter floor (per call)", "<=", 1.5, "low"),
    ("two_threads_realistic_vs_shared", "… caller time crossing 1 s buckets (1 µs a call)", "<=", 1.5, "low"),
    ("two_threads_worst_vs_shared", "… every call in a new bucket (worst case)", None, None, "low"),
    ("two_threads_throughput_vs_recloser", "two threads: throughput ÷ recloser's", ">=", 8.0, "high"),
    ("two_threads_striped_vs_padded", "two threads, striped window (2 stripes) ÷ padded per-thread floor", "<=", 1.3, "low"),
    ("two_threads_rejected_vs_padded", "two threads rejected by one open breaker ÷ padded per-thread floor", None, None, "low"),
    ("two_threads_rejected_vs_one", "… ÷ one thread rejected (per call; 1.0 = no contention)", None, None, "low"),
    ("c_vs_rust", "C ABI ÷ the same loop in Rust (in one process)", "<=", 1.3, "low"),
    ("c_vs_rust_worst", "… every call in a new bucket", None, None, "low"),
    ("py_sync_vs_circuitbreaker", "Python sync: overhead ÷ circuitbreaker's", "<=", 0.1, "low"),
    ("py_async_vs_aiobreaker", "Python async: overhead ÷ aiobreaker's", "<=", 0.12, "low"),
    ("py_rejection_vs_raise", "Python caught rejection ÷ raise + except of it in one frame", "<=", 1.3, "low"),
    ("py_two_threads_vs_one", "Python two threads ÷ one (GIL-bound here)", None, None, "high"),
]
NOT_BUILT: list[str] = []


# ---- inputs ----------------------------------------------------------------------------------

def criterion() -> dict[str, dict[str, float]]:
    """full_id -> median and its 95 % confidence interval, in ns."""
    found: dict[str, dict[str, float]] = {}
    for meta in CRITERION.glob("**/new/benchmark.json"):
        full_id = json.loads(meta.read_text())["full_id"]
        est = json.loads((meta.parent / "estimates.json").read_text())["median"]
        ci = est["confidence_interval"]
        found[full_id] = {"median": est["point_estimate"], "lo": ci["lower_bound"], "hi": ci["upper_bound"]}
    return found


def kv(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, *vals = line.split()
            out[key] = vals
    return out


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ns(x: float) -> str:
    return f"{x:,.1f} ns" if x < 10_000 else f"{x / 1000:,.2f} µs"


def lock_versions() -> dict[str, str]:
    text = (ROOT / "Cargo.lock").read_text()
    return {m[0]: m[1] for m in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text)}


def python_ratios(py: dict[str, Any]) -> dict[str, float]:
    """The Python targets, each the median over repeats of the ratio within a repeat."""
    s, a, r = py["sync"], py["async"], py["rejected"]

    def per_repeat(f: Any, *tables: dict[str, Any]) -> float:
        rows = zip(*(t["samples"] for t in tables))
        return float(statistics.median(f(*row) for row in rows))

    out = {
        "py_sync_vs_circuitbreaker": per_repeat(lambda b, o, p: (o - b) / (p - b),
                                                s["bare"], s["ringbreaker"], s["circuitbreaker"]),
        "py_async_vs_aiobreaker": per_repeat(lambda b, o, p: (o - b) / (p - b),
                                             a["bare"], a["ringbreaker"], a["aiobreaker"]),
        "py_rejection_vs_raise": per_repeat(lambda o, b: o / b, r["ringbreaker"], r["raise_same_frame"]),
    }
    out["py_two_threads_vs_one"] = py["threads"]["ringbreaker"]["ratio"]
    return out


# ---- history and the targets table -------------------------------------------------------------

def load_history() -> list[dict[str, Any]]:
    try:
        return list(json.loads(HISTORY.read_text()))
    except (OSError, ValueError):
        return []


def previous(history: list[dict[str, Any]], model: str) -> dict[str, Any] | None:
    same = [h for h in history if h.get("cpu") == model]
    return same[-1] if same else None


def x(v: float) -> str:
    return f"{v:.3f}×" if v < 1 else f"{v:.2f}×"


def targets_table(fig: dict[str, float], prev: dict[str, Any] | None) -> list[str]:
    against = (f"previous run on this CPU ({prev['date']}, {prev['kind']})" if prev
               else "previous run on this CPU (none recorded)")
    lines = [f"| target | measured | met | vs {against} |", "|---|---|---|---|"]
    for key, label, cmp, limit, better in TARGETS:
        if key not in fig:
            continue
        v = fig[key]
        if cmp is None or limit is None:
            met, shown = "(shown)", x(v)
        else:
            ok = v <= limit if cmp == "<=" else v >= limit
            met = "yes" if ok else "**no**"
            shown = f"{x(v)} (target {'≤' if cmp == '<=' else '≥'} {limit:g}×)"
        old = (prev or {}).get("targets", {}).get(key)
        if old is None:
            change = "—"
        else:
            worse = v / old - 1 if better == "low" else old / v - 1
            change = f"{x(old)} → {v / old - 1:+.1%}"
            if worse > REGRESSION:
                change += f" **REGRESSED > {REGRESSION:.0%}**"
        lines.append(f"| {label} | {shown} | {met} | {change} |")
    for text in NOT_BUILT:
        lines.append(f"| {text} | — | **no** | — |")
    return lines


def write_section(name: str, body: list[str]) -> None:
    """Replace the `name` section of RESULTS.md (between its markers), keeping the rest."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = "\n".join([begin, *body, end])
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def record(kind: str, model: str, fig: dict[str, float]) -> dict[str, Any] | None:
    """Append this run to the history; return the previous run on the same CPU."""
    history = load_history()
    prev = previous(history, model)
    history.append({
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "kind": kind,
        "cpu": model,
        "note": os.environ.get("BENCH_NOTE", ""),
        "targets": {k: round(v, 4) for k, v in fig.items()},
        "instructions": callgrind_counts(),
    })
    HISTORY.write_text(json.dumps(history, indent=1) + "\n")
    return prev


def header(kind: str, model: str) -> list[str]:
    note = os.environ.get("BENCH_NOTE")
    out = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC ({kind})",
        f"- CPU: {model}; {os.cpu_count()} CPUs; {platform.system()} {platform.release()}",
        f"- rustc: {sh('rustc', '--version')}",
    ]
    if note:
        out.insert(0, f"> **{note}**")
        out.insert(1, "")
    return out


def cpu_line(model: str) -> str:
    return f"CPU: {model}."


CALLGRIND_LABELS = {
    "fetch_add": "floor: `fetch_add`",
    "still": "acquire + record(success), caller's time, 1 ns a call",
    "rotate_1us": "… 1 µs a call",
    "rotate_every_call": "… every call in a new bucket",
    "clock": "… with one default clock read a call",
    "call": "`call()`, no slow-call detection",
    "rejected": "rejected while open",
    "c_abi": "`rb_try_acquire` + `rb_record` (C ABI), 1 ns a call",
}


def callgrind_counts() -> dict[str, int]:
    """Instructions per call of each hot path (`make bench-callgrind`), if it ran."""
    path = OUT / "callgrind.txt"
    if not path.exists():
        return {}
    return {k.split(".", 1)[1]: int(v[0]) for k, v in kv(path).items() if k.startswith("instructions_per_call.")}


def callgrind_lines(prev: dict[str, Any] | None) -> list[str]:
    """The instructions table, with the change against the previous run on this CPU."""
    counts = callgrind_counts()
    if not counts:
        return []
    old = (prev or {}).get("instructions", {})
    out = ["| hot path | instructions per call | vs previous run on this CPU |", "|---|---|---|"]
    for k, v in counts.items():
        change = "—"
        if k in old and old[k]:
            change = f"{old[k]} → {v / old[k] - 1:+.1%}"
            if v > old[k] * (1 + REGRESSION):
                change += f" **REGRESSED > {REGRESSION:.0%}**"
        out.append(f"| {CALLGRIND_LABELS.get(k, k)} | {v} | {change} |")
    return out


# ---- quick ---------------------------------------------------------------------------------------

def quick() -> str:
    q = kv(OUT / "quick.txt")
    py = json.loads((OUT / "python-quick.json").read_text())
    model = cpu()

    def r(key: str) -> float:
        return float(q[f"ratio.{key}"][0])

    fig = {k: r(k) for k, *_ in TARGETS if f"ratio.{k}" in q}
    fig |= python_ratios(py)
    prev = record("quick", model, fig)
    table = targets_table(fig, prev)

    lines = ["## Quick run (`make bench-quick`)", "", *header("bench-quick", model), "",
             f"Each ratio is the median over {q['rounds'][0]} rounds of the ratio within a round "
             "(Rust) or over the Python driver's repeats.", "",
             "### Targets", "", cpu_line(model), "", *table, "",
             "### Figures (ns per call; two-thread figures per call per thread)", "", cpu_line(model), "",
             "| figure | median | min – max |", "|---|---|---|"]
    for key, vals in sorted(q.items()):
        if key.startswith("ns."):
            m, lo, hi = (float(x) for x in vals)
            lines.append(f"| {key[3:]} | {ns(m)} | {ns(lo)} – {ns(hi)} |")
    target_keys = {k for k, *_ in TARGETS}
    lines += ["", "### Other ratios (median of same-round ratios)", "", cpu_line(model), "",
              "| ratio | median | min – max |", "|---|---|---|"]
    for key, vals in q.items():
        if key.startswith("ratio.") and key[6:] not in target_keys:
            m, lo, hi = (float(v) for v in vals)
            lines.append(f"| {key[6:]} | {x(m)} | {x(lo)} – {x(hi)} |")
    lines += ["", "### Thread-count curve (M calls/s, all threads on one object)", "", cpu_line(model), "",
              "| candidate | 1 thread | 2 threads | 2 ÷ 1 |", "|---|---|---|---|"]
    for key, vals in q.items():
        if key.startswith("curve."):
            one, two = (float(x) for x in vals)
            lines.append(f"| {key[6:]} | {one:,.1f} | {two:,.1f} | {two / one:.2f} |")
    s, a, rj = py["sync"], py["async"], py["rejected"]
    instr = callgrind_lines(prev)
    if instr:
        lines += ["", "### Instructions per call (callgrind; independent of machine load)", "", *instr]
    lines += ["", f"### Python (CPython {py['python']}, {py['n']:,} calls × {py['repeats']} repeats)", "",
              cpu_line(model), "", "| call | median per call | spread |", "|---|---|---|"]
    for table_name, t in (("sync", s), ("async", a), ("rejected", rj)):
        for name, e in t.items():
            lines.append(f"| {table_name}: {name} | {e['median']:,.0f} ns | {e['min']:,.0f} – {e['max']:,.0f} ns |")
    lines += ["", "### Pinning check", "", "```"]
    lines += [line.split(" ", 1)[1] for line in (OUT / "quick.txt").read_text().splitlines()
              if line.startswith("pincheck ")]
    lines += ["```"]
    write_section("quick", lines)
    return "\n".join([f"targets ({model}):", *table]) + "\n"


# ---- full ----------------------------------------------------------------------------------------

def full() -> str:
    c = criterion()
    fp = kv(OUT / "footprint.txt")
    cbench = kv(OUT / "c.txt")
    py = json.loads((OUT / "python.json").read_text())
    lock = lock_versions()
    model = cpu()

    def med(key: str) -> float:
        return c[key]["median"]

    def row(key: str, label: str, *ratios: float) -> str:
        e = c[key]
        cells = " | ".join(f"{r:.2f}×" for r in ratios)
        return f"| {label} | {ns(e['median'])} | {ns(e['lo'])} – {ns(e['hi'])} | {cells} |"

    floor = med("floor/fetch_add")
    floor_clock = med("floor/clock_read+fetch_add")
    ct = "ringbreaker/acquire+record/caller_time"
    ours = med(f"{ct}/still")
    t2 = "threads_2"
    fig = {
        "one_thread_vs_floor": ours / floor,
        "one_thread_realistic_vs_floor": med(f"{ct}/rotate_1us") / floor,
        "one_thread_worst_vs_floor": med(f"{ct}/rotate_every_call") / floor,
        "call_vs_clock_loop": med("ringbreaker/call") / med("ringbreaker/acquire+record/default_clock"),
        "call_vs_coarse_loop": med("ringbreaker/call") / med("ringbreaker/acquire+record/coarse_clock"),
        "two_threads_striped_vs_padded":
            med(f"{t2}/ringbreaker/striped/still") / med(f"{t2}/floor/padded_per_thread"),
        "two_threads_rejected_vs_padded":
            med(f"{t2}/ringbreaker/rejected/open") / med(f"{t2}/floor/padded_per_thread"),
        "two_threads_rejected_vs_one":
            med(f"{t2}/ringbreaker/rejected/open") / med("threads_1/ringbreaker/rejected/open"),
        "two_threads_vs_shared": med(f"{t2}/ringbreaker/caller_time/still") / med(f"{t2}/floor/shared_fetch_add"),
        "two_threads_realistic_vs_shared":
            med(f"{t2}/ringbreaker/caller_time/rotate_1us") / med(f"{t2}/floor/shared_fetch_add"),
        "two_threads_worst_vs_shared":
            med(f"{t2}/ringbreaker/caller_time/rotate_every_call") / med(f"{t2}/floor/shared_fetch_add"),
        "two_threads_throughput_vs_recloser": med(f"{t2}/recloser") / med(f"{t2}/ringbreaker/caller_time/still"),
        "c_vs_rust": med("c_abi/acquire+record/caller_time/still") / ours,
        "c_vs_rust_worst": med("c_abi/acquire+record/caller_time/rotate_every_call") / med(f"{ct}/rotate_every_call"),
    }
    fig |= python_ratios(py)
    prev = record("full", model, fig)
    table = targets_table(fig, prev)

    lines = [
        "## Full run (`make bench`)",
        "",
        "Medians, with criterion's 95 % confidence interval of the median (Rust) or the min – max",
        "of the repeats (C, Python). Ratios are between figures of this run.",
        "",
        *header("make bench", model),
        f"- C compiler: {sh('cc', '--version').splitlines()[0]}",
        f"- Python {py['python']}; " + ", ".join(f"{k} {v}" for k, v in py["versions"].items()),
        f"- Rust peers: failsafe {lock.get('failsafe', '?')}, recloser {lock.get('recloser', '?')}; "
        f"criterion {lock.get('criterion', '?')}",
        "",
        "### Targets",
        "",
        cpu_line(model),
        "",
        *table,
        "",
        "### Rust, one thread",
        "",
        cpu_line(model),
        "",
        "| bench | median | 95 % CI | ÷ `fetch_add` floor | ÷ clock + `fetch_add` floor |",
        "|---|---|---|---|---|",
    ]
    for key, label in [
        ("floor/fetch_add", "floor: `fetch_add` on one `AtomicU64` (result kept in a register)"),
        ("floor/fetch_add_black_box", "the old floor: `fetch_add`, result through `black_box` (a stack store)"),
        ("floor/clock_read", "floor: default clock read"),
        ("floor/clock_read+fetch_add", "floor: clock read + `fetch_add`"),
        (f"{ct}/still", "acquire + record(success), caller's time, 1 ns a call"),
        (f"{ct}/rotate_1us", "… 1 µs a call (a 1 s bucket boundary every 10⁶ calls)"),
        (f"{ct}/rotate_every_call", "… every call in a new bucket"),
        ("ringbreaker/acquire+record/default_clock", "acquire + record(success), default clock"),
        ("ringbreaker/record_failure/no_trip", "acquire + record(failure), no trip"),
        ("ringbreaker/rejected/open", "rejected while open"),
        ("ringbreaker/snapshot", "`snapshot`"),
        ("ringbreaker/call", "`call()` (no slow-call detection)"),
        ("c_abi/acquire+record/caller_time/still", "C ABI from Rust, 1 ns a call"),
        ("c_abi/acquire+record/caller_time/rotate_1us", "C ABI from Rust, 1 µs a call"),
        ("c_abi/acquire+record/caller_time/rotate_every_call", "C ABI from Rust, every call a new bucket"),
    ]:
        lines.append(row(key, label, med(key) / floor, med(key) / floor_clock))

    lines += [
        "",
        "### Rust peers, one thread (same workload: one guarded successful call)",
        "",
        cpu_line(model),
        "",
        "| breaker | median | 95 % CI | ÷ `fetch_add` floor | peer ÷ ringbreaker (caller's time) |",
        "|---|---|---|---|---|",
    ]
    for key, label in [
        ("peers/failsafe/default", f"failsafe {lock.get('failsafe', '')}, default policy"),
        ("peers/failsafe/consecutive_failures", "failsafe, consecutive-failures policy"),
        ("peers/recloser", f"recloser {lock.get('recloser', '')}"),
        ("peers/old_design", "old design (mutex + list filtered and trimmed to 1,000)"),
    ]:
        lines.append(row(key, label, med(key) / floor, med(key) / ours))

    lines += [
        "",
        "### 1 and 2 threads on one object, each thread pinned to its own CPU",
        "",
        cpu_line(model),
        "",
        "Figure: wall time per call per thread over the span where all threads were calling;",
        "throughput = threads ÷ figure.",
        "",
        "| bench | 1 thread | 2 threads | 2 threads ÷ shared-counter floor | M calls/s, 1 → 2 threads |",
        "|---|---|---|---|---|",
    ]
    shared2 = med(f"{t2}/floor/shared_fetch_add")
    for name, label in [
        ("floor/shared_fetch_add", "floor: `fetch_add` on one shared counter"),
        ("floor/padded_per_thread", "floor: `fetch_add` on padded per-thread counters"),
        ("ringbreaker/caller_time/still", "ringbreaker acquire + record, caller's time, 1 ns a call"),
        ("ringbreaker/caller_time/rotate_1us", "… 1 µs a call"),
        ("ringbreaker/caller_time/rotate_every_call", "… every call in a new bucket"),
        ("failsafe/default", "failsafe, default policy"),
        ("recloser", "recloser"),
    ]:
        one, two = med(f"threads_1/{name}"), med(f"{t2}/{name}")
        lines.append(f"| {label} | {ns(one)} | {ns(two)} | {two / shared2:.2f}× | "
                     f"{1e3 / one:,.1f} → {2e3 / two:,.1f} |")
    pin = OUT / "pincheck_2.txt"
    lines += ["", "Pinning check (two-thread groups):", "", "```",
              *(pin.read_text().splitlines() if pin.exists() else ["(missing)"]), "```"]

    lines += [
        "",
        "### Footprint",
        "",
        "Bytes per breaker for the default configuration: inline size plus the heap its constructor",
        "left allocated (a counting allocator). The old design is measured after its list filled.",
        "",
        "| breaker | bytes |",
        "|---|---|",
        f"| ringbreaker (10 buckets, each on its own cache line) | {int(fp['bytes.ringbreaker'][0]):,} |",
        f"| failsafe, default policy | {int(fp['bytes.failsafe_default'][0]):,} |",
        f"| recloser | {int(fp['bytes.recloser'][0]):,} |",
        f"| old design, 1,000 records | {int(fp['bytes.old_design_full'][0]):,} |",
        "",
        f"Resident memory across {int(fp['calls'][0]):,} calls on one breaker (100 ns of simulated time a call,",
        f"so the ring rotates throughout), then {int(fp['calls'][0]):,} on one flapping open and closed "
        f"({int(fp['flap_trips'][0]):,} trips): RSS {int(fp['rss.start'][0]):,} → "
        f"{int(fp['rss.after_steady'][0]):,} → {int(fp['rss.after_flapping'][0]):,} bytes; live heap growth "
        f"{int(fp['heap_growth'][0])} bytes.",
    ]

    lines += ["", "### Instructions per call (callgrind, `make bench-callgrind`; independent of machine load)",
              "", *callgrind_lines(prev)]

    lines += ["", "### C, compiled by a C compiler (`c/bench.c`)", "", cpu_line(model), "",
              "| loop | median | spread | ÷ the Rust loop |", "|---|---|---|---|"]
    for variant in ("still", "rotate_1us", "rotate_every_call"):
        cm, cmin, cmax = (float(x) for x in cbench[f"c.acquire_record_ns.{variant}"])
        lines.append(f"| `rb_try_acquire` + `rb_record`, {variant} | {ns(cm)} | {ns(cmin)} – {ns(cmax)} | "
                     f"{cm / med(f'{ct}/{variant}'):.2f}× |")

    s, a, r = py["sync"], py["async"], py["rejected"]

    def pyrow(label: str, e: dict[str, float], base: float | None) -> str:
        over = "" if base is None else f"{e['median'] - base:,.0f} ns"
        return f"| {label} | {e['median']:,.0f} ns | {e['min']:,.0f} – {e['max']:,.0f} ns | {over} |"

    th = py["threads"]["ringbreaker"]
    mem = py["memory"]["ringbreaker"]
    lines += [
        "",
        f"### Python (CPython {py['python']}, {py['n']:,} calls × {py['repeats']} repeats)",
        "",
        cpu_line(model),
        "",
        "| call | median per call | spread | over the bare call |",
        "|---|---|---|---|",
        pyrow("bare sync call", s["bare"], None),
        pyrow("ringbreaker decorator", s["ringbreaker"], s["bare"]["median"]),
        pyrow(f"pybreaker {py['versions']['pybreaker']}", s["pybreaker"], s["bare"]["median"]),
        pyrow(f"circuitbreaker {py['versions']['circuitbreaker']}", s["circuitbreaker"], s["bare"]["median"]),
        pyrow("bare await", a["bare"], None),
        pyrow("ringbreaker, async", a["ringbreaker"], a["bare"]["median"]),
        pyrow(f"aiobreaker {py['versions']['aiobreaker']}", a["aiobreaker"], a["bare"]["median"]),
        pyrow(f"purgatory {py['versions']['purgatory']}", a["purgatory"], a["bare"]["median"]),
        pyrow("ringbreaker, rejected (raise + catch `CircuitOpenError`)", r["ringbreaker"], s["bare"]["median"]),
        pyrow("raise + catch the same `CircuitOpenError` in one frame", r["raise_same_frame"], s["bare"]["median"]),
        pyrow("pybreaker, rejected", r["pybreaker"], s["bare"]["median"]),
        "",
        f"Two threads on one breaker: {th['two_threads_calls_per_s']:,.0f} calls/s against "
        f"{th['one_thread_calls_per_s']:,.0f} for one thread ({th['ratio']:.2f}×).",
        "",
        f"Memory: {mem['calls']:,} guarded calls, RSS {mem['rss_before']:,} → {mem['rss_after']:,} bytes "
        f"(growth {mem['growth']:,}).",
    ]
    write_section("full", lines)
    return "\n".join([f"targets ({model}):", *table]) + "\n"


def main() -> None:
    sys.stdout.write(quick() if "--quick" in sys.argv[1:] else full())


if __name__ == "__main__":
    main()
