"""Hypothesis state machine: random acquire / record / manual operations / ManualClock
advances, compared step by step with the sequential reference model in model.py."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from model import Model, Params

import ringbreaker

REASON_OF_OP = {
    "trip": "trip",
    "force_open": "force_open",
    "disable": "disable",
    "metrics_only": "metrics_only",
    "reset": "reset",
}


@st.composite
def params(draw: Any) -> Params:
    buckets = draw(st.sampled_from([1, 2, 3, 5, 10]))
    width = draw(st.sampled_from([1_000, 7_000, 1_000_000]))
    window = buckets * width
    open_ns = draw(st.integers(0, 2)) * window // 2
    return Params(
        window_ns=window,
        buckets=buckets,
        minimum_calls=draw(st.integers(0, 5)),
        failure_rate=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
        slow_rate=draw(st.sampled_from([0.0, 0.5, 1.0])),
        slow_ns=draw(st.sampled_from([None, 1, 50])),
        consecutive=draw(st.sampled_from([None, 1, 2, 3])),
        permits=draw(st.integers(1, 3)),
        open_ns=open_ns,
        max_open_ns=open_ns * draw(st.integers(1, 4)),
        backoff=draw(st.sampled_from([1.0, 1.5, 2.0])),
        half_open_timeout_ns=draw(st.integers(1, 3)) * window // 2 + 1,
    )


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.permits: list[tuple[ringbreaker.Permit, tuple[int, int]]] = []
        self.events: list[ringbreaker.Transition] = []

    @initialize(p=params())
    def setup(self, p: Params) -> None:
        self.clock = ringbreaker.ManualClock(1)
        self.model = Model(p)
        self.cb = ringbreaker.CircuitBreaker(
            "model",
            window=p.window_ns / 1e9,
            buckets=p.buckets,
            failure_rate=p.failure_rate,
            minimum_calls=p.minimum_calls,
            consecutive_failures=p.consecutive,
            slow_call_duration=None if p.slow_ns is None else p.slow_ns / 1e9,
            slow_call_rate=p.slow_rate,
            open_duration=p.open_ns / 1e9,
            max_open_duration=p.max_open_ns / 1e9,
            backoff_multiplier=p.backoff,
            half_open_permits=p.permits,
            half_open_timeout=p.half_open_timeout_ns / 1e9,
            clock=self.clock,
        )
        self.cb.subscribe(self.events.append)

    def now(self) -> int:
        return int(self.clock())

    def check_events(self, expected: list[tuple[Any, ...]]) -> None:
        got = [(e.from_state, e.to_state, e.generation, e.at_ns, e.reason) for e in self.events]
        self.events.clear()
        assert got == expected

    @rule()
    def acquire(self) -> None:
        want, transitions = self.model.acquire(self.now())
        try:
            permit = self.cb.try_acquire()
        except ringbreaker.CircuitOpenError:
            assert want is None
        else:
            assert want == (permit.generation, permit.kind)
            self.permits.append((permit, want))
        self.check_events(transitions)

    @rule(i=st.integers(0, 1000), success=st.sampled_from([True, False, None]), dur=st.integers(0, 120))
    def record(self, i: int, success: bool | None, dur: int) -> None:
        if not self.permits:
            return
        permit, mp = self.permits.pop(i % len(self.permits))
        expected = self.model.record(mp, success, dur, self.now())
        self.cb.record(permit, success=success, duration=dur / 1e9)
        self.check_events(expected)

    @rule(op=st.sampled_from(sorted(REASON_OF_OP)))
    def manual(self, op: str) -> None:
        expected = self.model.manual(op, self.now())
        t = getattr(self.cb, op)()
        assert (t is None) == (not expected)
        self.check_events(expected)

    @rule(dt=st.one_of(st.integers(0, 150), st.integers(1000, 4000)))
    def advance(self, dt: int) -> None:
        self.clock.advance_ns(self.model.p.window_ns * dt // 1000)

    @invariant()
    def metrics_agree(self) -> None:
        if not hasattr(self, "model"):
            return
        m = self.cb.metrics()
        got = (
            m.state,
            m.generation,
            m.calls,
            m.successes,
            m.failures,
            m.slow_calls,
            m.failure_rate,
            m.slow_call_rate,
            m.rejected,
            m.stale,
            None if m.time_until_half_open is None else round(m.time_until_half_open * 1e9),
        )
        assert got == self.model.metrics(self.now())


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase
