"""``CircuitBreaker``: the public Python face of the native breaker."""

from __future__ import annotations

import functools
import inspect
import logging
import math
import numbers
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar, cast

from . import _native
from ._types import Metrics, State, Transition

_log = logging.getLogger("ringbreaker")

F = TypeVar("F", bound=Callable[..., Any])
ExceptionMatcher = type[BaseException] | Callable[[BaseException], bool]

# Permits held by `with breaker:` blocks, innermost first, per thread and per asyncio task.
_ACTIVE: ContextVar[tuple[Any, ...] | None] = ContextVar("ringbreaker_active", default=None)

_MAX_NS = 2**64 - 1


def _dispatch(name: str, listeners: list[Callable[[Transition], object]], t: Any) -> None:
    """Deliver a committed transition to each listener; a raising listener is logged."""
    transition = Transition(
        breaker=name,
        from_state=State(t.from_state),
        to_state=State(t.to_state),
        generation=t.generation,
        at_ns=t.at_ns,
        reason=t.reason,
    )
    _deliver(listeners, transition)


def _deliver(listeners: list[Callable[[Transition], object]], transition: Transition) -> None:
    for listener in tuple(listeners):
        try:
            listener(transition)
        except Exception:
            _log.exception("ringbreaker listener %r raised on %s", listener, transition)


def _seconds(name: str, value: object, *, allow_zero: bool = True, optional: bool = False) -> int | None:
    """Validate a duration in seconds and convert it to integer nanoseconds."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise ValueError(f"{name} must be a finite number of seconds, got {v}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} seconds, got {v}")
    ns = round(v * 1e9)
    if ns > _MAX_NS:
        raise ValueError(f"{name} is too large ({v} s)")
    return ns


def _int(name: str, value: object, low: int, high: int = 2**32 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    v = int(value)
    if not low <= v <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {v}")
    return v


def _rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in 0.0..1.0, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in 0.0..1.0, got {v}")
    return v


def _matchers(name: str, value: object) -> tuple[ExceptionMatcher, ...]:
    if isinstance(value, type) or callable(value):
        value = (value,)
    if not isinstance(value, tuple | list):
        raise TypeError(f"{name} must be a tuple of exception types or predicates")
    return tuple(value)


class Subscription:
    """Handle returned by :meth:`CircuitBreaker.subscribe`; ``close()`` stops delivery."""

    __slots__ = ("_listeners", "_fn")

    def __init__(self, listeners: list[Callable[[Transition], object]], fn: Callable[[Transition], object]):
        self._listeners: list[Callable[[Transition], object]] | None = listeners
        self._fn = fn

    def close(self) -> None:
        """Stop delivering transitions to this listener. Idempotent."""
        listeners, self._listeners = self._listeners, None
        if listeners is not None:
            try:
                listeners.remove(self._fn)
            except ValueError:
                pass

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._listeners is None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CircuitBreaker:
    """A circuit breaker over the lock-free Rust core.

    Durations are float seconds; ``clock`` is ``None`` (the core's monotonic clock), a
    :class:`ManualClock`, or a zero-argument callable returning integer nanoseconds.

    Use it as a decorator (sync functions, coroutine functions, generators, async generators),
    as a context manager (``with`` / ``async with``), with :meth:`call`, or explicitly with
    :meth:`try_acquire` and :meth:`record`.

    Exceptions are classified in this order: one matching ``ignore`` is not a call; one
    matching ``failure_on`` is a failure; any other ``Exception`` is a success (the resource
    answered); anything else — ``asyncio.CancelledError``, ``KeyboardInterrupt``,
    ``SystemExit``, ``GeneratorExit`` — is not a call. To count cancellations as failures, add
    ``asyncio.CancelledError`` to ``failure_on``. Entries are exception types or predicates
    taking the exception.
    """

    __slots__ = ("_cb", "_listeners", "__weakref__")

    _cb: _native.NativeBreaker
    _listeners: list[Callable[[Transition], object]]

    def __init__(
        self,
        name: str,
        *,
        window: float = 10.0,
        buckets: int = 10,
        failure_rate: float = 0.5,
        minimum_calls: int = 20,
        consecutive_failures: int | None = None,
        slow_call_duration: float | None = None,
        slow_call_rate: float = 1.0,
        open_duration: float = 5.0,
        max_open_duration: float | None = None,
        backoff_multiplier: float = 1.0,
        half_open_permits: int = 1,
        half_open_timeout: float | None = None,
        failure_on: tuple[ExceptionMatcher, ...] = (Exception,),
        ignore: tuple[ExceptionMatcher, ...] = (),
        clock: Callable[[], int] | None = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        if not isinstance(backoff_multiplier, numbers.Real) or isinstance(backoff_multiplier, bool):
            raise TypeError(f"backoff_multiplier must be a number, got {type(backoff_multiplier).__name__}")
        bm = float(backoff_multiplier)
        if not (bm >= 1.0 and math.isfinite(bm)):
            raise ValueError(f"backoff_multiplier must be a finite number >= 1.0, got {bm}")
        if clock is not None and not callable(clock):
            raise TypeError("clock must be None, a ManualClock, or a callable returning integer nanoseconds")
        self._listeners: list[Callable[[Transition], object]] = []
        self._cb = _native.NativeBreaker(
            name,
            window_ns=_seconds("window", window, allow_zero=False),
            buckets=_int("buckets", buckets, 1),
            failure_rate=_rate("failure_rate", failure_rate),
            minimum_calls=_int("minimum_calls", minimum_calls, 0),
            consecutive_failures=0
            if consecutive_failures is None
            else _int("consecutive_failures", consecutive_failures, 1),
            slow_call_ns=_seconds("slow_call_duration", slow_call_duration, allow_zero=False, optional=True),
            slow_call_rate=_rate("slow_call_rate", slow_call_rate),
            open_ns=_seconds("open_duration", open_duration),
            max_open_ns=_seconds("max_open_duration", max_open_duration, optional=True),
            backoff_multiplier=bm,
            half_open_permits=_int("half_open_permits", half_open_permits, 1),
            half_open_timeout_ns=_seconds("half_open_timeout", half_open_timeout, allow_zero=False, optional=True),
            failure_on=_matchers("failure_on", failure_on),
            ignore=_matchers("ignore", ignore),
            clock=clock,
            listeners=self._listeners,
        )

    # -- introspection ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._cb.name

    @property
    def state(self) -> State:
        """The state the next call would find (an elapsed OPEN reads HALF_OPEN)."""
        return State(self._cb.state())

    def retry_after(self) -> float | None:
        """Seconds until a call could be admitted, the number a rejection now carries in
        :attr:`CircuitOpenError.retry_after`: 0.0 when a call would be permitted; for OPEN the
        end of the open period; for a HALF_OPEN breaker with every trial out, the earliest lapse
        of its newest trial's lease; ``None`` for FORCED_OPEN (only :meth:`reset` ends it)."""
        ns = self._cb.retry_after()
        return None if ns is None else ns / 1e9

    def metrics(self) -> Metrics:
        """A snapshot of the window and totals."""
        s = self._cb.snapshot()
        return Metrics(
            state=State(s[0]),
            generation=s[1],
            calls=s[2],
            successes=s[3],
            failures=s[4],
            slow_calls=s[5],
            failure_rate=s[6],
            slow_call_rate=s[7],
            rejected=s[8],
            stale=s[9],
            time_until_half_open=None if s[10] is None else s[10] / 1e9,
            open_duration=s[11] / 1e9,
        )

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state.name})"

    # -- listeners ---------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[Transition], object]) -> Subscription:
        """Call ``fn(transition)`` after every state change, outside any lock. A listener that
        raises is logged on the ``ringbreaker`` logger and never breaks the guarded call."""
        if not callable(fn):
            raise TypeError("fn must be callable")
        self._listeners.append(fn)
        return Subscription(self._listeners, fn)

    # -- explicit permits ------------------------------------------------------------------

    def try_acquire(self) -> _native.Permit:
        """A permit for one call, or :class:`CircuitOpenError`."""
        return self._cb.acquire()

    def record(self, permit: _native.Permit, success: bool | None = True, duration: float | None = None) -> None:
        """Record a permit's outcome: ``success=True``, ``False`` (failure) or ``None`` (not a
        call). ``duration`` (seconds) defaults to the time since the permit was issued."""
        if success is None:
            outcome = 2
        elif isinstance(success, bool):
            outcome = 0 if success else 1
        else:
            raise TypeError(f"success must be True, False or None, got {type(success).__name__}")
        ns = _seconds("duration", duration, optional=True)
        self._cb.record(permit, outcome, ns)

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` guarded (sync functions)."""
        return self._cb.call(fn, *args, **kwargs)

    # -- decorator ---------------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        """Guard ``fn``: a sync function, coroutine function, generator or async generator."""
        if inspect.iscoroutinefunction(fn):
            return cast(F, self._wrap_coroutine(fn))
        if inspect.isasyncgenfunction(fn):
            return cast(F, self._wrap_async_gen(fn))
        if inspect.isgeneratorfunction(fn):
            return cast(F, self._wrap_gen(fn))
        if not callable(fn):
            raise TypeError("a breaker decorates callables")
        guarded = _native.Guarded(self._cb, fn)
        functools.update_wrapper(guarded, fn)
        return cast(F, guarded)

    def _wrap_coroutine(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        # Bound once: the wrapper runs on every call, and a permit token is a plain int.
        enter, leave, leave_exception = self._cb._enter, self._cb._leave, self._cb._leave_exception

        @functools.wraps(fn)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            token = enter()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                leave_exception(token, exc)
                raise
            leave(token)
            return result

        return guarded

    def _wrap_async_gen(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        breaker = self

        @functools.wraps(fn)
        async def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async with breaker:
                async for item in fn(*args, **kwargs):
                    yield item

        return guarded

    def _wrap_gen(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        breaker = self

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with breaker:
                yield from fn(*args, **kwargs)

        return guarded

    # -- context managers ------------------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        permit = self._cb.acquire()
        _ACTIVE.set((self, permit, _ACTIVE.get()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        node = _ACTIVE.get()
        if node is None or node[0] is not self:
            raise RuntimeError(f"breaker {self.name!r} exited a block it did not enter in this context")
        _ACTIVE.set(node[2])
        if exc is None:
            self._cb.record(node[1], 0)
        else:
            self._cb.record_exception(node[1], exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- manual operations -----------------------------------------------------------------

    def _manual(self, op: str, note: str | None) -> Transition | None:
        t = self._cb.manual(op)
        if t is None:
            return None
        transition = Transition(
            breaker=self.name,
            from_state=State(t.from_state),
            to_state=State(t.to_state),
            generation=t.generation,
            at_ns=t.at_ns,
            reason=t.reason,
            note=note,
        )
        _deliver(self._listeners, transition)
        return transition

    def trip(self, reason: str | None = None) -> Transition | None:
        """Open now, as a trip would; half-opens after ``open_duration``."""
        return self._manual("trip", reason)

    def force_open(self, reason: str | None = None) -> Transition | None:
        """Reject every call until :meth:`reset`."""
        return self._manual("force_open", reason)

    def disable(self, reason: str | None = None) -> Transition | None:
        """Permit every call and record nothing until :meth:`reset`."""
        return self._manual("disable", reason)

    def metrics_only(self, reason: str | None = None) -> Transition | None:
        """Permit and record every call, never tripping, until :meth:`reset`."""
        return self._manual("metrics_only", reason)

    def reset(self, reason: str | None = None) -> Transition | None:
        """Closed, with a fresh window and the base open duration."""
        return self._manual("reset", reason)
