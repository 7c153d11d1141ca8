"""The Python API against the reference model (crate ``ringbreaker-spec``).

The model lives in Rust, once, for all three front doors: its ``spec-trace`` binary writes
seeded operation sequences with the model's observations as JSON lines, and this test replays
each through ``ringbreaker.CircuitBreaker`` with a ``ManualClock`` and compares every permit,
rejection, transition and snapshot field exactly (times in integer nanoseconds; the seconds
the public API gives are checked against them). 2,000 sequences by default, ``SPEC_SEQUENCES``
for more; a difference prints a minimal reproduction, shrunk by asking the model again.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import ringbreaker
from ringbreaker import CircuitBreaker, CircuitOpenError, ManualClock, State

ROOT = Path(__file__).resolve().parents[2]
STATE_NAMES = {s.value: s.name.lower() for s in State}
KINDS = {0: "normal", 1: "trial", 2: "passthrough"}


def _trace(*args: str, stdin: str | None = None) -> list[dict[str, Any]]:
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "ringbreaker-spec", "--bin", "spec-trace", "--", *args]
    out = subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def _secs(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


class PythonDoor:
    """One breaker driven through the public Python API, as a user drives it."""

    def __init__(self, p: dict[str, Any]) -> None:
        self.clock = ManualClock(0)
        slow = p["slow_call_ns"]
        self.cb = CircuitBreaker(
            "spec",
            window=p["window_ns"] / 1e9,
            buckets=p["buckets"],
            failure_rate=p["failure_rate"],
            minimum_calls=p["minimum_calls"],
            consecutive_failures=p["consecutive_failures"] or None,
            slow_call_duration=None if slow == 0 else slow / 1e9,
            slow_call_rate=p["slow_call_rate"],
            open_duration=p["open_ns"] / 1e9,
            # A cap of 2^64 - 1 ns is no cap (the core's own default); Python says None.
            max_open_duration=None if p["max_open_ns"] == 2**64 - 1 else _secs(p["max_open_ns"]),
            backoff_multiplier=p["backoff_multiplier"],
            half_open_permits=p["half_open_permits"],
            half_open_timeout=_secs(p["half_open_timeout_ns"]),
            clock=self.clock,
        )
        self.other = CircuitBreaker("other", clock=self.clock)
        self.seen: list[ringbreaker.Transition] = []
        self.cb.subscribe(self.seen.append)
        self.permits: list[Any] = []

    def _transition(self) -> dict[str, Any] | None:
        if not self.seen:
            return None
        t = self.seen[-1]
        self.seen.clear()
        return {
            "from": STATE_NAMES[int(t.from_state)],
            "to": STATE_NAMES[int(t.to_state)],
            "generation": t.generation,
            "at": t.at_ns,
            "reason": t.reason,
        }

    def _record(self, permit: Any, outcome: str, duration_ns: int | None) -> dict[str, Any]:
        success = {"success": True, "failure": False, "ignored": None}[outcome]
        try:
            # A duration of 0 is "untimed" for slow-call detection (never slow): the model's None.
            self.cb.record(permit, success=success, duration=(duration_ns or 0) / 1e9)
        except ringbreaker.ForeignPermitError:
            return {"obs": "refused", "error": "foreign_permit"}
        except ValueError as e:
            assert "already recorded" in str(e), e
            return {"obs": "refused", "error": "already_recorded"}
        return {"obs": "recorded", "transition": self._transition()}

    def apply(self, op: dict[str, Any]) -> dict[str, Any]:
        kind, now = op["op"], op["now"]
        self.clock.set_ns(now)
        if kind == "acquire":
            try:
                p = self.cb.try_acquire()
            except CircuitOpenError as e:
                ns = self.cb._cb.retry_after()
                t = self._transition()
                if ns is None:
                    assert e.retry_after is None
                else:
                    # Same number as the core's, in seconds.
                    assert e.retry_after is not None and math.isclose(e.retry_after, ns / 1e9, rel_tol=1e-12)
                return {"obs": "rejected", "state": STATE_NAMES[int(e.state)], "retry_after_ns": ns, "transition": t}
            self.permits.append(p)
            return {
                "obs": "permit",
                "kind": KINDS[p.kind],
                "generation": p.generation,
                "slot": p.slot,
                "transition": self._transition(),
            }
        if kind == "record":
            if op["permit"] >= len(self.permits):
                return {"obs": "refused", "error": "no_such_permit"}
            return self._record(self.permits[op["permit"]], op["outcome"], op["duration_ns"])
        if kind == "record_foreign":
            return self._record(self.other.try_acquire(), "failure", None)
        if kind == "manual":
            getattr(self.cb, op["action"])()
            return {"obs": "manual", "transition": self._transition()}
        if kind == "cycle":
            for _ in range(op["pairs"]):
                self.cb.disable()
                self.cb.reset()
            t = self._transition()
            return {"obs": "manual", "transition": t}
        if kind == "set_generation":
            t = self.cb._cb.debug_reset_to_generation(op["generation"])
            return {
                "obs": "manual",
                "transition": {
                    "from": STATE_NAMES[t.from_state],
                    "to": STATE_NAMES[t.to_state],
                    "generation": t.generation,
                    "at": t.at_ns,
                    "reason": t.reason,
                },
            }
        if kind == "snapshot":
            m = self.cb.metrics()
            assert m.state == self.cb.state, "metrics().state and .state disagree"
            until = None if m.time_until_half_open is None else round(m.time_until_half_open * 1e9)
            return {
                "obs": "snapshot",
                "state": STATE_NAMES[int(m.state)],
                "generation": m.generation,
                "calls": m.calls,
                "successes": m.successes,
                "failures": m.failures,
                "slow_calls": m.slow_calls,
                "failure_rate": m.failure_rate,
                "slow_call_rate": m.slow_call_rate,
                "rejected": m.rejected,
                "stale": m.stale,
                "time_until_half_open_ns": until,
                "open_ns": round(m.open_duration * 1e9),
            }
        if kind == "state":
            return {"obs": "state", "state": STATE_NAMES[int(self.cb.state)]}
        if kind == "retry_after":
            ns = self.cb._cb.retry_after()
            secs = self.cb.retry_after()
            assert (secs is None) == (ns is None) and (ns is None or math.isclose(secs or 0.0, ns / 1e9, rel_tol=1e-12))
            return {"obs": "retry_after", "retry_after_ns": ns}
        raise AssertionError(f"unknown op {kind}")


def _normalise(obs: dict[str, Any]) -> dict[str, Any]:
    """Seconds round-trip through floats: compare nanosecond fields as the model gives them,
    except values beyond float's exact integers, compared to 1 part in 10^15."""
    return obs


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and max(abs(a), abs(b)) > 2**53:
        return math.isclose(a, b, rel_tol=1e-15)
    return bool(a == b)


def _first_difference(trace: dict[str, Any]) -> tuple[int, Any, Any] | None:
    door = PythonDoor(trace["params"])
    for i, (op, want) in enumerate(zip(trace["ops"], trace["expected"], strict=False)):
        got = door.apply(op)
        if not _close(want, got):
            return i, want, got
    return None


def _shrink(trace: dict[str, Any]) -> dict[str, Any]:
    """Drop operations while the door still differs from the model (asked again each time)."""
    ops = trace["ops"]
    diff = _first_difference(trace)
    assert diff is not None
    ops = ops[: diff[0] + 1]
    i = 0
    while i < len(ops):
        candidate = ops[:i] + ops[i + 1 :]
        if any(o["op"] in ("record", "record_copy") for o in candidate):
            # Permit indices shift when an acquire goes; the model renumbers nothing, so keep
            # acquires that records refer to.
            if ops[i]["op"] == "acquire":
                i += 1
                continue
        shrunk = {"seed": trace["seed"], "params": trace["params"], "ops": candidate}
        t = _trace("--expect", stdin=json.dumps(shrunk))[0]
        d = _first_difference(t)
        if d is not None:
            ops = candidate[: d[0] + 1]
        else:
            i += 1
    return _trace("--expect", stdin=json.dumps({"seed": trace["seed"], "params": trace["params"], "ops": ops}))[0]


def _check(traces: list[dict[str, Any]]) -> None:
    for trace in traces:
        if _first_difference(trace) is None:
            continue
        small = _shrink(trace)
        at, want, got = _first_difference(small) or (-1, None, None)
        lines = [
            f"Python front door differs from the reference model (seed {trace['seed']}).",
            f"minimal reproduction ({len(small['ops'])} of {len(trace['ops'])} operations):",
            f"params = {json.dumps(small['params'])}",
        ]
        lines += [f"  {json.dumps(op)}" for op in small["ops"]]
        lines += [f"operation {at}: model {want}", f"operation {at}: door  {got}"]
        pytest.fail("\n".join(lines), pytrace=False)


def test_python_api_matches_the_model() -> None:
    count = os.environ.get("SPEC_SEQUENCES", "2000")
    traces = _trace("0", count, "python")
    assert len(traces) == int(count)
    _check(traces)


def test_python_api_long_runs_match_the_model() -> None:
    traces = _trace("--long")
    assert len(traces) == 2
    _check(traces)
