"""Values of the public API: states, metrics, transitions, errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.IntEnum):
    """A breaker state. The numbers are stable and match the Rust and C APIs."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2
    FORCED_OPEN = 3
    DISABLED = 4
    METRICS_ONLY = 5


@dataclass(frozen=True, slots=True)
class Metrics:
    """A snapshot of a breaker.

    Window counts cover the current window; ``rejected`` and ``stale`` are totals since the
    breaker was made. ``time_until_half_open`` is in seconds and set only while OPEN.
    """

    state: State
    generation: int
    calls: int
    successes: int
    failures: int
    slow_calls: int
    failure_rate: float
    slow_call_rate: float
    rejected: int
    stale: int
    time_until_half_open: float | None
    open_duration: float


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change, delivered to listeners after it has been committed.

    ``at_ns`` is the breaker clock's reading when it happened; ``reason`` is one of the core's
    reasons (``"failure_rate"``, ``"open_elapsed"``, ``"trip"``, ...); ``note`` is the text given
    to a manual operation, if any.
    """

    breaker: str
    from_state: State
    to_state: State
    generation: int
    at_ns: int
    reason: str
    note: str | None = None


class Error(Exception):
    """Base class of every error ringbreaker raises."""


class CircuitOpenError(Error):
    """The breaker did not permit the call.

    Raised natively with ``args == (breaker, state, retry_after)``; the attributes read them, so
    raising one costs no Python-level ``__init__``.
    """

    @property
    def breaker(self) -> str:
        """Name of the breaker that rejected the call."""
        return str(self.args[0])

    @property
    def state(self) -> State:
        """The state that rejected it: OPEN, HALF_OPEN (all trials out) or FORCED_OPEN."""
        return State(self.args[1])

    @property
    def retry_after(self) -> float | None:
        """Seconds until a call could be admitted: for OPEN the end of the open period, for a
        HALF_OPEN breaker with every trial out the earliest lapse of its newest trial's lease;
        ``None`` for FORCED_OPEN, which only a manual reset ends. Equal to
        :meth:`CircuitBreaker.retry_after` at the same instant, and to the Rust and C numbers."""
        value = self.args[2]
        return None if value is None else float(value)

    def __str__(self) -> str:
        text = f"circuit breaker {self.breaker!r} is {self.state.name}"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:.3f} s"
        return text


class ForeignPermitError(Error, ValueError):
    """A permit was recorded on a breaker other than the one that issued it."""
