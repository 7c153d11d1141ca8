"""Write benches/RESULTS.md from one `make bench` run: criterion's estimates (target/criterion),
the footprint run, the C loop and the Python driver (target/bench). Standard library only.

Every ratio is between figures of this same run."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRITERION = ROOT / "target" / "criterion"
OUT = ROOT / "target" / "bench"


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


def main() -> None:
    c = criterion()
    fp = kv(OUT / "footprint.txt")
    cbench = kv(OUT / "c.txt")
    py = json.loads((OUT / "python.json").read_text())
    lock = lock_versions()

    def med(key: str) -> float:
        return c[key]["median"]

    def row(key: str, label: str, *ratios: tuple[str, float]) -> str:
        e = c[key]
        cells = " | ".join(f"{r:.2f}×" for _, r in ratios)
        return f"| {label} | {ns(e['median'])} | {ns(e['lo'])} – {ns(e['hi'])} | {cells} |"

    floor = med("floor/fetch_add")
    floor_clock = med("floor/clock_read+fetch_add")
    ours = med("ringbreaker/acquire+record/caller_time")
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benches/report.py`) from one run; every ratio is between figures",
        "of that same run. Medians, with criterion's 95 % confidence interval of the median (Rust)",
        "or the min – max of the repeats (C, Python). Re-run `make bench` to reproduce.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- rustc: {sh('rustc', '--version')}; C compiler: {sh('cc', '--version').splitlines()[0]}",
        f"- Python {py['python']}; " + ", ".join(f"{k} {v}" for k, v in py["versions"].items()),
        f"- Rust peers: failsafe {lock.get('failsafe', '?')}, recloser {lock.get('recloser', '?')}; "
        f"criterion {lock.get('criterion', '?')}",
        "",
        "## Rust, one thread",
        "",
        "| bench | median | 95 % CI | ÷ `fetch_add` floor | ÷ clock + `fetch_add` floor |",
        "|---|---|---|---|---|",
    ]
    for key, label in [
        ("floor/fetch_add", "floor: `fetch_add` on one `AtomicU64`"),
        ("floor/clock_read", "floor: default clock read"),
        ("floor/clock_read+fetch_add", "floor: clock read + `fetch_add`"),
        ("ringbreaker/acquire+record/caller_time", "acquire + record(success), caller's time"),
        ("ringbreaker/acquire+record/default_clock", "acquire + record(success), default clock"),
        ("ringbreaker/record_failure/no_trip", "acquire + record(failure), no trip"),
        ("ringbreaker/rejected/open", "rejected while open"),
        ("ringbreaker/snapshot", "`snapshot`"),
        ("ringbreaker/call", "`call()` (no slow-call detection: one default clock read)"),
    ]:
        lines.append(row(key, label, ("f", med(key) / floor), ("fc", med(key) / floor_clock)))

    lines += [
        "",
        "## Rust peers, one thread (same workload: one guarded successful call)",
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
        lines.append(row(key, label, ("f", med(key) / floor), ("p", med(key) / ours)))

    shared = med("contention_2_threads/floor/shared_fetch_add")
    padded = med("contention_2_threads/floor/padded_per_thread")
    lines += [
        "",
        "## Two threads pinned to separate cores, one breaker",
        "",
        "Figure: wall time per call per thread; throughput = 2 calls per figure.",
        "",
        "| bench | median | 95 % CI | ÷ shared-counter floor | throughput (M calls/s) |",
        "|---|---|---|---|---|",
    ]
    tput = {}
    for key, label in [
        ("contention_2_threads/floor/shared_fetch_add", "floor: `fetch_add` on one shared counter"),
        ("contention_2_threads/floor/padded_per_thread", "floor: `fetch_add` on padded per-thread counters"),
        ("contention_2_threads/ringbreaker/caller_time", "ringbreaker acquire + record, caller's time"),
        ("contention_2_threads/failsafe/default", "failsafe, default policy"),
        ("contention_2_threads/recloser", "recloser"),
    ]:
        tput[key] = 2e3 / med(key)
        e = c[key]
        lines.append(f"| {label} | {ns(e['median'])} | {ns(e['lo'])} – {ns(e['hi'])} | "
                     f"{med(key) / shared:.2f}× | {tput[key]:,.1f} |")
    ours2 = "contention_2_threads/ringbreaker/caller_time"
    peer_names = {"contention_2_threads/failsafe/default": "failsafe", "contention_2_threads/recloser": "recloser"}
    fastest_peer = max(peer_names, key=lambda k: tput[k])
    lines += ["", f"ringbreaker's throughput ÷ the fastest peer's ({peer_names[fastest_peer]}): "
                  f"{tput[ours2] / tput[fastest_peer]:.2f}×."]

    lines += [
        "",
        "## Footprint",
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

    instr = int(kv(OUT / "callgrind.txt")["instructions_per_call"][0])
    lines += [
        "",
        f"Instructions per acquire + record(success) on one thread, counted by callgrind "
        f"(`make bench-callgrind`; independent of machine load): {instr}.",
    ]

    cm, cmin, cmax = (float(x) for x in cbench["c.acquire_record_ns"])
    lines += [
        "",
        "## C",
        "",
        "| loop | median | spread |",
        "|---|---|---|",
        f"| C: `rb_try_acquire` + `rb_record`, caller's time | {ns(cm)} | {ns(cmin)} – {ns(cmax)} |",
        f"| Rust: the same loop (above) | {ns(ours)} | {ns(c['ringbreaker/acquire+record/caller_time']['lo'])} – "
        f"{ns(c['ringbreaker/acquire+record/caller_time']['hi'])} |",
        "",
        f"C ÷ Rust: {cm / ours:.2f}× (the C entry points add a NULL check, `catch_unwind` and the "
        "permit's conversion).",
    ]

    s, a, r = py["sync"], py["async"], py["rejected"]

    def pyrow(label: str, e: dict[str, float], base: float | None) -> str:
        over = "" if base is None else f"{e['median'] - base:,.0f} ns"
        return f"| {label} | {e['median']:,.0f} ns | {e['min']:,.0f} – {e['max']:,.0f} ns | {over} |"

    th = py["threads"]["ringbreaker"]
    mem = py["memory"]["ringbreaker"]
    lines += [
        "",
        f"## Python (CPython {py['python']}, {py['n']:,} calls × {py['repeats']} repeats)",
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
        pyrow("pybreaker, rejected", r["pybreaker"], s["bare"]["median"]),
        "",
        f"Two threads on one breaker: {th['two_threads_calls_per_s']:,.0f} calls/s against "
        f"{th['one_thread_calls_per_s']:,.0f} for one thread ({th['ratio']:.2f}×).",
        "",
        f"Memory: {mem['calls']:,} guarded calls, RSS {mem['rss_before']:,} → {mem['rss_after']:,} bytes "
        f"(growth {mem['growth']:,}).",
    ]

    sync_over = s["ringbreaker"]["median"] - s["bare"]["median"]
    async_over = a["ringbreaker"]["median"] - a["bare"]["median"]
    rust_growth = int(fp["rss.after_flapping"][0]) - int(fp["rss.start"][0])
    targets = [
        ("one thread, acquire + record, caller's time ≤ 2× `fetch_add`", f"{ours / floor:.2f}×", ours / floor <= 2),
        ("two threads ≤ 2× the shared-counter floor per call", f"{med(ours2) / shared:.2f}×",
         med(ours2) / shared <= 2),
        ("two threads ≥ 5× the fastest Rust peer's throughput", f"{tput[ours2] / tput[fastest_peer]:.2f}×",
         tput[ours2] / tput[fastest_peer] >= 5),
        ("≥ 100× faster than the old design", f"{med('peers/old_design') / ours:,.0f}×",
         med("peers/old_design") / ours >= 100),
        ("Python sync ≤ 150 ns over a bare call", f"{sync_over:,.0f} ns", sync_over <= 150),
        ("Python async ≤ 300 ns over a bare await", f"{async_over:,.0f} ns", async_over <= 300),
        ("Python rejection ≤ 500 ns", f"{r['ringbreaker']['median']:,.0f} ns", r["ringbreaker"]["median"] <= 500),
        ("Python 2 threads ≥ the throughput of 1", f"{th['ratio']:.2f}×", th["ratio"] >= 1),
        (f"zero RSS growth over {2 * int(fp['calls'][0]):,} Rust calls", f"{rust_growth:,} bytes", rust_growth == 0),
        (f"zero RSS growth over {mem['calls']:,} Python calls", f"{mem['growth']:,} bytes", mem["growth"] == 0),
    ]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for label, shown, ok in targets:
        lines.append(f"| {label} | {shown} | {'yes' if ok else 'no'} |")
    text = "\n".join(lines) + "\n"
    (ROOT / "benches" / "RESULTS.md").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
