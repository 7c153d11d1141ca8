"""Values of the public API: states, metrics, transitions, call events, errors.

Pure Python with no import of the native module: ``ringbreaker._native`` imports this module
when it is loaded and builds these values and raises these errors itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class State(enum.IntEnum):
    """A breaker state. The numbers are stable and match the Rust and C APIs; ``str()`` and
    ``format()`` give the name (``print(cb.state)`` prints ``OPEN``)."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2
    FORCED_OPEN = 3
    DISABLED = 4
    METRICS_ONLY = 5

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


@dataclass(frozen=True, slots=True)
class Totals:
    """Cumulative counts since the breaker was made, for exporters (counters never go down).

    ``calls`` counts recorded outcomes (``successes + failures + ignored``); ``slow_calls`` is
    the subset recorded slower than ``slow_call_duration``; ``rejected`` and ``stale`` are the
    core's totals. ``seconds_in_state`` maps every :class:`State` to the seconds spent in it
    (committed states: an elapsed open period counts as OPEN until the next call half-opens
    it). ``duration_sum`` (seconds) and ``duration_count`` map ``"success"``, ``"failure"`` and
    ``"ignored"`` to the summed duration and number of timed calls with that outcome; calls are
    timed when ``slow_call_duration``, ``timeout`` or ``time_calls=True`` is set.
    """

    calls: int
    successes: int
    failures: int
    ignored: int
    slow_calls: int
    rejected: int
    stale: int
    seconds_in_state: Mapping[State, float]
    duration_sum: Mapping[str, float]
    duration_count: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Metrics:
    """A snapshot of a breaker, read at one instant.

    Window counts (``calls`` .. ``slow_call_rate``) cover the current window; ``rejected`` and
    ``stale`` are totals since the breaker was made; ``totals`` has every cumulative count.
    ``time_until_half_open`` is in seconds and set only while OPEN; ``open_duration`` is the
    current open period (it grows with ``backoff_multiplier``).
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
    totals: Totals


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

    def __str__(self) -> str:
        text = f"{self.breaker}: {self.from_state.name} -> {self.to_state.name} ({self.reason})"
        return text if self.note is None else f"{text}: {self.note}"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One guarded call, as delivered to :meth:`CircuitBreaker.subscribe_calls` hooks.

    ``kind`` is ``"before_call"`` (a permit was issued), ``"success"``, ``"failure"``,
    ``"ignored"`` (recorded as not a call) or ``"not_permitted"`` (rejected).
    ``duration`` is in seconds for a timed call's outcome, else ``None``; ``exception`` is what
    the call raised (or the :class:`CircuitOpenError` for ``"not_permitted"``).
    """

    breaker: str
    kind: str
    duration: float | None = None
    exception: BaseException | None = None


def _arg(args: tuple[Any, ...], i: int) -> Any:
    return args[i] if len(args) > i else None


class Error(Exception):
    """Base class of every error ringbreaker raises."""


class ConfigError(Error, ValueError):
    """A configuration value was rejected. ``args == (message, parameter)``; ``parameter`` is the
    Python parameter's name (``"window"``, ``"open_duration"``, ...)."""

    @property
    def parameter(self) -> str | None:
        """The rejected parameter, if known."""
        p = _arg(self.args, 1)
        return None if p is None else str(p)

    def __str__(self) -> str:
        return "invalid breaker configuration" if not self.args else str(self.args[0])


class CircuitOpenError(Error):
    """The breaker did not permit the call.

    Raised with ``args == (breaker, state, retry_after)``; the attributes read them, so raising
    one costs no Python-level ``__init__``. Any arguments are accepted (for test doubles):
    missing ones read as ``None``.
    """

    @property
    def breaker(self) -> str | None:
        """Name of the breaker that rejected the call."""
        b = _arg(self.args, 0)
        return None if b is None else str(b)

    @property
    def state(self) -> State | None:
        """The state that rejected it: OPEN, HALF_OPEN (all trials out) or FORCED_OPEN."""
        try:
            return State(_arg(self.args, 1))
        except (ValueError, TypeError):
            return None

    @property
    def retry_after(self) -> float | None:
        """Seconds until a call could be admitted: for OPEN the end of the open period, for a
        HALF_OPEN breaker with every trial out the earliest lapse of its newest trial's lease;
        ``None`` for FORCED_OPEN, which only a manual reset ends. Equal to
        :meth:`CircuitBreaker.retry_after` at the same instant, and to the Rust and C numbers."""
        value = _arg(self.args, 2)
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    def __str__(self) -> str:
        state = self.state
        text = f"circuit breaker {self.breaker!r} is {state.name if state is not None else 'open'}"
        retry = self.retry_after
        if retry is not None:
            text += f"; retry after {retry:.3f} s"
        return text


class CircuitTimeoutError(Error, TimeoutError):
    """An async call guarded with ``timeout=`` ran longer than that and was cancelled; it was
    recorded as a failure. ``args == (breaker, timeout)``. A subclass of the builtin
    ``TimeoutError`` (which is ``asyncio.TimeoutError`` from Python 3.11)."""

    @property
    def breaker(self) -> str | None:
        """Name of the breaker whose timeout expired."""
        b = _arg(self.args, 0)
        return None if b is None else str(b)

    @property
    def timeout(self) -> float | None:
        """The timeout, in seconds."""
        t = _arg(self.args, 1)
        try:
            return None if t is None else float(t)
        except (TypeError, ValueError):
            return None

    def __str__(self) -> str:
        t = self.timeout
        return f"circuit breaker {self.breaker!r}: call timed out" + ("" if t is None else f" after {t:g} s")


class ForeignPermitError(Error, ValueError):
    """A permit was recorded on a breaker other than the one that issued it."""


class PermitReusedError(Error, ValueError):
    """A permit was recorded a second time (from any thread); the second record changed
    nothing. Each permit records exactly one outcome."""


class SharedRegionError(Error, OSError):
    """A shared region could not be opened or removed. ``args == (kind, message, path)``.

    ``kind`` says why: ``"config"`` (the region holds another configuration; the message names
    each differing field with both values), ``"layout"`` (created by a build with another
    breaker layout), ``"version"``, ``"truncated"``, ``"corrupt"``, ``"not_a_region"``,
    ``"creation_timeout"`` (the creator is alive but did not finish), ``"unsupported"`` (no
    lock-free 64-bit atomics), ``"invalid_name"`` or ``"io"``. ``path`` is the region's file.
    Any arguments are accepted (for test doubles): missing ones read as ``None``.
    """

    def __init__(self, *args: object) -> None:
        # All arguments kept in ``args`` (``OSError`` would read three as errno, strerror and
        # filename and keep two).
        BaseException.__init__(self, *args)

    @property
    def kind(self) -> str | None:
        """Why the region could not be used."""
        k = _arg(self.args, 0)
        return None if k is None else str(k)

    @property
    def path(self) -> str | None:
        """The region's file."""
        p = _arg(self.args, 2)
        return None if p is None else str(p)

    def __str__(self) -> str:
        message = _arg(self.args, 1)
        if message is not None:
            return str(message)
        return "shared region error" if not self.args else str(self.args[0])
