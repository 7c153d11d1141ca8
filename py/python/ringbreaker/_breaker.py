"""``CircuitBreaker``: the public Python face of the native breaker."""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import logging
import math
import numbers
import operator
import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import _native
from ._types import CallEvent, CircuitOpenError, CircuitTimeoutError, ConfigError, Metrics, State, Transition

_log = logging.getLogger("ringbreaker")

F = TypeVar("F", bound=Callable[..., Any])
ExceptionMatcher = type[BaseException] | Callable[[BaseException], bool]
Seconds = float | int | datetime.timedelta

Config = _native.Config


class _NoFallback:
    """The ``fallback`` default: rejections raise :class:`CircuitOpenError`."""

    _instance: _NoFallback | None = None

    def __new__(cls) -> _NoFallback:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_FALLBACK"

    def __reduce__(self) -> str:
        return "NO_FALLBACK"


NO_FALLBACK: Any = _NoFallback()

# `with breaker:` blocks open in this context, innermost first: (breaker, permit, frame, next).
# The frame is the one that entered the block, which identifies the block on exit.
_ACTIVE: ContextVar[tuple[Any, ...] | None] = ContextVar("ringbreaker_active", default=None)

_CONFIG_DEFAULTS: dict[str, Any] = {
    "window": 10.0,
    "buckets": 10,
    "failure_rate": 0.5,
    "minimum_calls": 20,
    "consecutive_failures": None,
    "slow_call_duration": None,
    "slow_call_rate": 1.0,
    "open_duration": 5.0,
    "max_open_duration": None,
    "backoff_multiplier": 1.0,
    "half_open_permits": 1,
    "half_open_timeout": None,
    "stripes": 1,
}


def _timeout_seconds(value: object) -> float | None:
    """``timeout``: ``None``, or > 0 seconds as a number or ``datetime.timedelta``."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        v = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"timeout must be a number of seconds or a datetime.timedelta, got {type(value).__name__}")
    else:
        v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ConfigError(f"timeout must be > 0 seconds and finite, or None, got {value}", "timeout")
    return v


def _matchers(name: str, value: object) -> tuple[ExceptionMatcher, ...]:
    if isinstance(value, type) or callable(value):
        return (cast(ExceptionMatcher, value),)
    if not isinstance(value, tuple | list):
        raise TypeError(
            f"{name} must be an exception type, a predicate, or a tuple of them, got {type(value).__name__}"
        )
    return tuple(value)


def _is_async_callable(fn: object) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


async def _coroutine_template(*args: Any, **kwargs: Any) -> Any:
    """Its code object marks native coroutine wrappers as coroutine functions."""


def _mark_coroutine_function(wrapper: Any, fn: Any) -> None:
    """Make ``inspect.iscoroutinefunction(wrapper)`` true, as it is for ``fn``: the wrapper
    looks like a function to ``inspect`` (``__code__`` with the coroutine flag, ``__defaults__``
    and ``__kwdefaults__``; ``update_wrapper`` gave it ``__name__`` and ``__annotations__``),
    and carries the marker of ``inspect.markcoroutinefunction`` where that exists (3.12+).
    ``inspect.signature`` follows ``__wrapped__`` to ``fn``."""
    code = getattr(fn, "__code__", None)
    wrapper.__code__ = code if isinstance(code, types.CodeType) else _coroutine_template.__code__
    wrapper.__defaults__ = getattr(fn, "__defaults__", None)
    wrapper.__kwdefaults__ = getattr(fn, "__kwdefaults__", None)
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        mark(wrapper)


class _AsyncListener:
    """An ``async def`` listener: each delivery runs as its own task on the loop running where
    the transition happens, else on the loop it was subscribed on; its errors are logged."""

    __slots__ = ("fn", "loop", "tasks")

    def __init__(self, fn: Callable[[Any], Awaitable[object]], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.tasks: set[Any] = set()

    def _done(self, fut: Any) -> None:
        self.tasks.discard(fut)

    def __call__(self, value: object) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        fut: Any
        if running is not None:
            fut = running.create_task(self._run(value))
        elif self.loop.is_running() and not self.loop.is_closed():
            fut = asyncio.run_coroutine_threadsafe(self._run(value), self.loop)
        else:
            _log.warning("ringbreaker async listener %r dropped %s: no event loop is running", self.fn, value)
            return
        # Held until done: the loop keeps only weak references to tasks.
        self.tasks.add(fut)
        fut.add_done_callback(self._done)

    async def _run(self, value: object) -> object:
        try:
            return await self.fn(value)
        except Exception:
            _log.exception("ringbreaker async listener %r raised on %s", self.fn, value)
            return None


class Subscription:
    """Handle returned by :meth:`CircuitBreaker.subscribe`; ``close()`` stops delivery."""

    __slots__ = ("_listeners", "_fn")

    def __init__(self, listeners: list[Any], fn: Any):
        self._listeners: list[Any] | None = listeners
        self._fn = fn

    def close(self) -> None:
        """Stop delivering to this listener. Idempotent."""
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


def _listener(fn: Callable[[Any], object], what: str) -> Callable[[Any], object]:
    if not callable(fn):
        raise TypeError(f"{what} must be callable, got {type(fn).__name__}")
    if _is_async_callable(fn):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise TypeError(
                f"an async {what} needs a running event loop: subscribe it from a coroutine on the loop "
                "it should run on"
            ) from None
        return _AsyncListener(cast(Callable[[Any], Awaitable[object]], fn), loop)
    return fn


class CircuitBreaker:
    """A circuit breaker over the lock-free Rust core.

    ``CircuitBreaker(name, **parameters)``; every parameter but ``name`` is keyword-only.
    Durations are seconds: an int, a float or a ``datetime.timedelta``. A bad value raises
    :class:`ConfigError` (a ``ValueError``) or ``TypeError`` naming the parameter, in seconds,
    with the accepted range.

    Window and trip rules (validated by the core's ``Config``):

    - ``window=10.0`` -- seconds of history the rates are computed over.
    - ``buckets=10`` -- the window is a ring of this many buckets (1..=4096); it slides one
      bucket (``window / buckets``) at a time.
    - ``failure_rate=0.5`` -- trip when failures / calls in the window reach this (0.0..=1.0).
    - ``minimum_calls=20`` -- no rate trips before this many calls are in the window.
    - ``consecutive_failures=None`` -- also trip after this many failures in a row (None: off).
    - ``slow_call_duration=None`` -- a call at least this long is slow (None: off).
    - ``slow_call_rate=1.0`` -- trip when slow calls / calls reach this.
    - ``open_duration=5.0`` -- seconds OPEN before trial calls are let through (HALF_OPEN).
    - ``max_open_duration=None`` -- cap for the open duration as it grows by the multiplier
      (None: no cap).
    - ``backoff_multiplier=1.0`` -- each re-open multiplies the open duration by this (>= 1.0).
    - ``half_open_permits=1`` -- trial calls in HALF_OPEN; all must succeed to close.
    - ``half_open_timeout=None`` -- a trial permit not reported after this long lapses and
      counts as a failed trial (None: one window).
    - ``stripes=1`` -- stripe the window over this many copies of the ring (a power of two,
      1..=64): each thread counts in its own stripe, so threads calling one breaker from free-
      threaded Python or native code stop contending for one cache line; totals and rates sum
      every stripe. Each stripe costs ``config.stripe_bytes`` bytes.

    Classification of outcomes:

    - ``failure_on=(Exception,)`` -- exception types or predicates ``f(exc) -> bool`` whose
      match is a failure.
    - ``ignore=()`` -- exception types or predicates whose match is not a call at all; checked
      before ``failure_on``. Any other ``Exception`` is a success (the resource answered), and
      anything else -- ``asyncio.CancelledError``, ``KeyboardInterrupt``, ``SystemExit``,
      ``GeneratorExit`` -- is not a call. Add ``asyncio.CancelledError`` to ``failure_on`` to
      count cancellations.
    - ``failure_when=None`` -- predicate ``f(result) -> bool``: a returned value for which it
      is true counts as a failure (the value is still returned).

    Guarded-call behaviour:

    - ``timeout=None`` -- seconds. An async call still running then is cancelled, recorded as
      a failure, and raises :class:`CircuitTimeoutError` (a ``TimeoutError``). A sync call
      cannot be interrupted: ``timeout`` is the ``slow_call_duration`` when that is not set,
      so a sync call running past it is recorded as slow.
    - ``fallback=NO_FALLBACK`` -- on a rejection, return this value instead of raising
      :class:`CircuitOpenError`; a callable is called with the call's arguments (and awaited
      if it returns an awaitable) and its result is returned.
    - ``fallback_on_failure=False`` -- also use the fallback when the call raised an exception
      recorded as a failure, or timed out.
    - ``time_calls=False`` -- time every call for the duration totals in
      ``metrics().totals`` even without ``slow_call_duration`` or ``timeout`` (two clock reads
      a call).
    - ``clock=None`` -- ``None`` (the core's monotonic clock), a :class:`ManualClock`, or a
      zero-argument callable returning integer nanoseconds.
    - ``config=None`` -- a prebuilt :class:`Config` instead of the window and trip parameters.

    Use it as a decorator (sync functions, coroutine functions, generators, async
    generators), as a context manager (``with`` / ``async with``), with :meth:`call` /
    :meth:`call_async`, or explicitly with :meth:`try_acquire` and :meth:`record`.
    """

    __slots__ = (
        "_async_blocks",
        "_call",
        "_cb",
        "_listeners",
        "_call_hooks",
        "_options",
        "_timeout",
        "_fallback",
        "_fallback_on_failure",
        "__weakref__",
    )

    _cb: _native.NativeBreaker

    def __init__(
        self,
        name: str,
        *,
        window: Seconds = 10.0,
        buckets: int = 10,
        failure_rate: float = 0.5,
        minimum_calls: int = 20,
        consecutive_failures: int | None = None,
        slow_call_duration: Seconds | None = None,
        slow_call_rate: float = 1.0,
        open_duration: Seconds = 5.0,
        max_open_duration: Seconds | None = None,
        backoff_multiplier: float = 1.0,
        half_open_permits: int = 1,
        half_open_timeout: Seconds | None = None,
        stripes: int = 1,
        failure_on: ExceptionMatcher | tuple[ExceptionMatcher, ...] = (Exception,),
        ignore: ExceptionMatcher | tuple[ExceptionMatcher, ...] = (),
        failure_when: Callable[[Any], bool] | None = None,
        timeout: Seconds | None = None,
        fallback: Any = NO_FALLBACK,
        fallback_on_failure: bool = False,
        time_calls: bool = False,
        clock: Callable[[], int] | None = None,
        config: _native.Config | None = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        cfg_kwargs: dict[str, Any] = {
            "window": window,
            "buckets": buckets,
            "failure_rate": failure_rate,
            "minimum_calls": minimum_calls,
            "consecutive_failures": consecutive_failures,
            "slow_call_duration": slow_call_duration,
            "slow_call_rate": slow_call_rate,
            "open_duration": open_duration,
            "max_open_duration": max_open_duration,
            "backoff_multiplier": backoff_multiplier,
            "half_open_permits": half_open_permits,
            "half_open_timeout": half_open_timeout,
            "stripes": stripes,
        }
        t = _timeout_seconds(timeout)
        if config is not None:
            if not isinstance(config, _native.Config):
                raise TypeError(f"config must be a ringbreaker.Config, got {type(config).__name__}")
            given = [k for k, v in cfg_kwargs.items() if v is not _CONFIG_DEFAULTS[k] and v != _CONFIG_DEFAULTS[k]]
            if given:
                raise TypeError(f"config: give either config or {', '.join(given)}, not both")
            cfg = config
        else:
            if t is not None and slow_call_duration is None:
                cfg_kwargs["slow_call_duration"] = t
            cfg = _native.Config(**cfg_kwargs)
        if clock is not None and not callable(clock):
            raise TypeError("clock must be None, a ManualClock, or a callable returning integer nanoseconds")
        if not isinstance(fallback_on_failure, bool):
            raise TypeError(f"fallback_on_failure must be a bool, got {type(fallback_on_failure).__name__}")
        if not isinstance(time_calls, bool):
            raise TypeError(f"time_calls must be a bool, got {type(time_calls).__name__}")
        self._async_blocks: dict[types.FrameType, list[_native.Permit]] = {}
        self._listeners: list[Callable[[Transition], object]] = []
        self._call_hooks: list[Callable[[CallEvent], object]] = []
        self._timeout = t
        self._fallback = fallback
        self._fallback_on_failure = fallback_on_failure
        self._cb = _native.NativeBreaker(
            name,
            cfg,
            failure_on=_matchers("failure_on", failure_on),
            ignore=_matchers("ignore", ignore),
            failure_when=failure_when,
            clock=clock,
            listeners=self._listeners,
            call_hooks=self._call_hooks,
            time_calls=time_calls or t is not None,
        )
        self._bind_call()
        self._options: dict[str, Any] = {
            **({"config": config} if config is not None else cfg_kwargs),
            "failure_on": failure_on,
            "ignore": ignore,
            "failure_when": failure_when,
            "timeout": timeout,
            "fallback": fallback,
            "fallback_on_failure": fallback_on_failure,
            "time_calls": time_calls,
            "clock": clock,
        }
        if config is None and t is not None and slow_call_duration is None:
            self._options["slow_call_duration"] = None

    # -- introspection ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._cb.name

    @property
    def config(self) -> _native.Config:
        """The validated :class:`Config`."""
        return self._cb.config

    @property
    def state(self) -> State:
        """The state the next call would find (an elapsed OPEN reads HALF_OPEN): the core's
        ``state(now)``, which agrees with ``metrics().state`` read at the same instant."""
        return self._cb.state()

    def retry_after(self) -> float | None:
        """Seconds until a call could be admitted, the number a rejection now carries in
        :attr:`CircuitOpenError.retry_after`: 0.0 when a call would be permitted; for OPEN the
        end of the open period; for a HALF_OPEN breaker with every trial out, the earliest lapse
        of its newest trial's lease; ``None`` for FORCED_OPEN (only :meth:`reset` ends it)."""
        ns = self._cb.retry_after()
        return None if ns is None else ns / 1e9

    def metrics(self) -> Metrics:
        """A snapshot of the window and the cumulative totals, read at one instant."""
        return self._cb.metrics()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state.name})"

    def __reduce__(self) -> tuple[Any, ...]:
        # By name through the default registry: the receiving process gets its own breaker of
        # that name (made with the same options if it has none yet).
        from ._registry import _restore

        return (_restore, (self.name, self._options))

    # -- listeners and hooks -------------------------------------------------------------------

    def subscribe(self, fn: Callable[[Transition], object]) -> Subscription:
        """Call ``fn(transition)`` after every state change, outside any lock.

        A plain function runs inline on the thread that caused the transition, after it was
        committed; an ``async def`` runs as its own task on the event loop running there (or,
        from a thread without one, on the loop it was subscribed on) and must be subscribed
        from a running loop (``TypeError`` otherwise). A listener that raises is logged on the
        ``ringbreaker`` logger and never affects the breaker, the call or other listeners.
        """
        wrapped = _listener(fn, "listener")
        self._listeners.append(wrapped)
        return Subscription(self._listeners, wrapped)

    def subscribe_calls(self, fn: Callable[[CallEvent], object]) -> Subscription:
        """Call ``fn(event)`` for every guarded call: a :class:`CallEvent` of kind
        ``"before_call"``, ``"success"``, ``"failure"``, ``"ignored"`` or ``"not_permitted"``
        (pybreaker's before_call/success/failure, Resilience4j's call events). With no hook
        subscribed a call pays one list-length check. Same delivery rules as :meth:`subscribe`.
        """
        wrapped = _listener(fn, "call hook")
        self._call_hooks.append(wrapped)
        return Subscription(self._call_hooks, wrapped)

    # -- explicit permits ------------------------------------------------------------------

    def try_acquire(self) -> _native.Permit:
        """A permit for one call, or :class:`CircuitOpenError`."""
        return self._cb.acquire()

    def record(self, permit: _native.Permit, success: bool | None = True, duration: Seconds | None = None) -> None:
        """Record a permit's outcome: ``success=True``, ``False`` (failure) or ``None`` (not a
        call). ``duration`` (seconds or timedelta) defaults to the time since the permit was
        issued. A permit records once: a second record raises :class:`PermitReusedError`."""
        if success is None:
            outcome = 2
        elif isinstance(success, bool):
            outcome = 0 if success else 1
        else:
            raise TypeError(f"success must be True, False or None, got {type(success).__name__}")
        self._cb.record(permit, outcome, duration)

    def record_exception(self, permit: _native.Permit, exc: BaseException) -> None:
        """Record a permit whose call raised ``exc``, classified by ``failure_on``/``ignore``."""
        self._cb.record_exception(permit, exc)

    def record_result(self, permit: _native.Permit, result: object) -> None:
        """Record a permit whose call returned ``result`` (a failure if ``failure_when``)."""
        self._cb.record_result(permit, result)

    # -- guarded calls -----------------------------------------------------------------------

    def _fallback_value(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fb = self._fallback
        return fb(*args, **kwargs) if callable(fb) else fb

    def _use_fallback(self, exc: BaseException) -> bool:
        if self._fallback is NO_FALLBACK:
            return False
        if isinstance(exc, CircuitOpenError):
            return exc.breaker == self.name
        if not self._fallback_on_failure:
            return False
        if isinstance(exc, CircuitTimeoutError):
            return exc.breaker == self.name
        return isinstance(exc, Exception) and self._cb.classify(exc) == 1

    if TYPE_CHECKING:

        def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            """``fn(*args, **kwargs)`` guarded, for synchronous callables (see below)."""

    else:
        # `cb.call` is the native breaker's own `call` (bound once, in `_bind_call`), so a call
        # runs no Python frame of the breaker's; with a fallback, `_call_with_fallback`.
        call = property(
            operator.attrgetter("_call"),
            doc="""``call(fn, /, *args, **kwargs)``: ``fn(*args, **kwargs)`` guarded, for
            synchronous callables.

            An ``async def`` (or anything returning an awaitable) raises ``TypeError`` and is
            recorded as not a call: its outcome is not known when it returns -- use
            ``await cb.call_async(fn, ...)``. The coroutine is closed unawaited.
            """,
        )

    def _bind_call(self) -> None:
        """Point :attr:`call` at the native breaker's ``call`` (no fallback) or at
        ``_call_with_fallback``; run whenever ``_cb`` is set."""
        self._call = self._cb.call if self._fallback is NO_FALLBACK else self._call_with_fallback

    def _call_with_fallback(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._cb.call(fn, *args, **kwargs)
        except Exception as exc:
            if self._use_fallback(exc):
                return self._fallback_value(args, kwargs)
            raise

    async def call_async(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``await fn(*args, **kwargs)`` guarded: records the awaited outcome, applies
        ``timeout`` and ``fallback``. ``fn`` may also be a sync callable."""
        try:
            return await self._run_async(fn, args, kwargs)
        except Exception as exc:
            if self._use_fallback(exc):
                value = self._fallback_value(args, kwargs)
                return await value if inspect.isawaitable(value) else value
            raise

    async def _run_async(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        cb = self._cb
        permit = cb.acquire()
        timeout = self._timeout
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                if timeout is None:
                    result = await result
                else:
                    result = await self._await_with_timeout(permit, result, timeout)
        except BaseException as exc:
            if not permit.recorded:
                cb.record_exception(permit, exc)
            raise
        cb.record_result(permit, result)
        return result

    async def _await_with_timeout(self, permit: _native.Permit, awaitable: Awaitable[Any], timeout: float) -> Any:
        if sys.version_info >= (3, 11):
            cm = asyncio.timeout(timeout)
            try:
                async with cm:
                    return await awaitable
            except TimeoutError as exc:
                if cm.expired():
                    self._cb.record(permit, 1, None, None, exc)
                    raise CircuitTimeoutError(self.name, timeout) from exc
                raise
        else:  # pragma: no cover - Python 3.10
            try:
                return await asyncio.wait_for(awaitable, timeout)
            except asyncio.TimeoutError as exc:
                self._cb.record(permit, 1, None, None, exc)
                raise CircuitTimeoutError(self.name, timeout) from exc

    # -- decorator ---------------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        """Guard ``fn``: a sync function, coroutine function, generator or async generator.

        Each call of the wrapper owns its permit, whatever order its frames resume in (two
        wrapped generators zipped, an async generator advanced from several tasks). A sync
        function that returns an awaitable raises ``TypeError`` (declare it ``async def``).
        """
        if not callable(fn):
            raise TypeError(f"a breaker decorates callables, got {type(fn).__name__}")
        if inspect.isasyncgenfunction(fn):
            return cast(F, self._wrap_async_gen(fn))
        if inspect.isgeneratorfunction(fn):
            return cast(F, self._wrap_gen(fn))
        if _is_async_callable(fn):
            return cast(F, self._wrap_coroutine(fn))
        guarded = _native.Guarded(self._cb, fn)
        functools.update_wrapper(guarded, fn)
        if self._fallback is NO_FALLBACK:
            return cast(F, guarded)
        breaker = self

        @functools.wraps(fn)
        def with_fallback(*args: Any, **kwargs: Any) -> Any:
            try:
                return guarded(*args, **kwargs)
            except Exception as exc:
                if breaker._use_fallback(exc):
                    return breaker._fallback_value(args, kwargs)
                raise

        return cast(F, with_fallback)

    def _wrap_coroutine(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        call_async = self.call_async
        run = self._run_async
        plain = self._fallback is NO_FALLBACK

        if plain and self._timeout is None:
            # A native callable whose calls return a native awaitable that does what
            # `_run_async` does for an awaitable result, with no Python frame of its own.
            guarded = _native.GuardedAsync(self._cb, fn)
            functools.update_wrapper(guarded, fn)
            _mark_coroutine_function(guarded, fn)
            return guarded

        @functools.wraps(fn)
        async def guarded_full(*args: Any, **kwargs: Any) -> Any:
            if plain:
                return await run(fn, args, kwargs)
            return await call_async(fn, *args, **kwargs)

        return guarded_full

    def _wrap_async_gen(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        cb = self._cb

        @functools.wraps(fn)
        async def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            # The permit is a local of this frame: it follows the generator, not the context
            # or task that happens to advance it.
            permit = cb.acquire()
            try:
                agen = fn(*args, **kwargs)
                try:
                    value = await agen.__anext__()
                    while True:
                        try:
                            sent = yield value
                        except GeneratorExit:
                            await agen.aclose()
                            raise
                        except BaseException as thrown:
                            value = await agen.athrow(thrown)
                        else:
                            value = await agen.asend(sent)
                except StopAsyncIteration:
                    pass
            except BaseException as exc:
                cb.record_exception(permit, exc)
                raise
            cb.record_success(permit)

        return guarded

    def _wrap_gen(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        cb = self._cb

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            # The permit is a local of this frame: it follows the generator.
            permit = cb.acquire()
            try:
                result = yield from fn(*args, **kwargs)
            except BaseException as exc:
                cb.record_exception(permit, exc)
                raise
            cb.record_success(permit)
            return result

        return guarded

    # -- context managers ------------------------------------------------------------------

    def _exit_block(self, exc: BaseException | None, frame: types.FrameType | None) -> None:
        node = _ACTIVE.get()
        if node is not None and node[0] is self and node[2] is frame:
            _ACTIVE.set(node[3])
            self._finish_block(node[1], exc)
            return
        # Not the innermost block: find this frame's own block further down.
        kept: list[tuple[Any, Any, Any]] = []
        cur = node
        while cur is not None and not (cur[0] is self and cur[2] is frame):
            kept.append((cur[0], cur[1], cur[2]))
            cur = cur[3]
        if cur is not None:
            rest = cur[3]
            for b, p, f in reversed(kept):
                rest = (b, p, f, rest)
            _ACTIVE.set(rest)
            self._finish_block(cur[1], exc)
            inner = ", ".join(repr(b.name) for b, _, _ in kept)
            raise RuntimeError(
                f"`with` block of breaker {self.name!r} exited before the blocks entered after it "
                f"in the same context ({inner}) -- blocks exited out of order, as when two "
                "generators each holding a `with breaker:` block are interleaved. This block's "
                "outcome was recorded with its own permit; the others stay open. Decorate the "
                "generator with the breaker instead: each call then owns its permit."
            ) from exc
        if node is not None and node[0] is self:
            # Entered from a helper's frame (contextlib.ExitStack, a manual __enter__): LIFO.
            _ACTIVE.set(node[3])
            self._forget_async_block(node[2], node[1])
            self._finish_block(node[1], exc)
            return
        raise RuntimeError(
            f"breaker {self.name!r} exited a `with` block it did not enter in this context "
            "(an async generator holding `async with breaker:` advanced from another task?); "
            "nothing was recorded. Decorate the generator with the breaker instead: each call "
            "then owns its permit."
        ) from exc

    def _finish_block(self, permit: _native.Permit, exc: BaseException | None) -> None:
        if exc is None:
            self._cb.record_success(permit)
        else:
            self._cb.record_exception(permit, exc)

    # The block's permit waits on a per-context stack, tagged with the frame that entered the
    # block; the exit from that frame takes it (the common case, inlined), wherever it is.

    def __enter__(self) -> CircuitBreaker:
        _ACTIVE.set((self, self._cb.acquire(), sys._getframe(1), _ACTIVE.get()))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        node = _ACTIVE.get()
        frame = sys._getframe(1)
        if node is not None and node[0] is self and node[2] is frame:
            _ACTIVE.set(node[3])
            if exc is None:
                self._cb.record_success(node[1])
            else:
                self._cb.record_exception(node[1], exc)
            return
        self._exit_block(exc, frame)

    # `async with` blocks are also kept by frame on the breaker, so a block exited from another
    # task (an async generator advanced by `asyncio.create_task(agen.__anext__())`, which runs
    # in a copy of the context) still finds its own permit.

    async def __aenter__(self) -> CircuitBreaker:
        permit = self._cb.acquire()
        frame = sys._getframe(1)
        _ACTIVE.set((self, permit, frame, _ACTIVE.get()))
        self._async_blocks.setdefault(frame, []).append(permit)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        frame = sys._getframe(1)
        permits = self._async_blocks.get(frame)
        if not permits:
            # Entered from a helper's frame (contextlib.AsyncExitStack): the context's stack.
            self._exit_block(exc, frame)
            return
        permit = permits.pop()
        if not permits:
            self._async_blocks.pop(frame, None)
        # Take its node off this context's stack, if it is there (it is not when the block was
        # entered in another task's context).
        node = _ACTIVE.get()
        kept: list[tuple[Any, Any, Any]] = []
        cur = node
        while cur is not None and cur[1] is not permit:
            kept.append((cur[0], cur[1], cur[2]))
            cur = cur[3]
        if cur is not None:
            rest = cur[3]
            for b, p, f in reversed(kept):
                rest = (b, p, f, rest)
            _ACTIVE.set(rest)
        self._finish_block(permit, exc)
        if cur is not None and kept:
            inner = ", ".join(repr(b.name) for b, _, _ in kept)
            raise RuntimeError(
                f"`async with` block of breaker {self.name!r} exited before the blocks entered after "
                f"it in the same context ({inner}) -- blocks exited out of order. This block's outcome "
                "was recorded with its own permit; the others stay open. Decorate the generator with "
                "the breaker instead: each call then owns its permit."
            ) from exc

    def _forget_async_block(self, frame: types.FrameType | None, permit: _native.Permit) -> None:
        permits = self._async_blocks.get(frame) if frame is not None else None
        if permits and permit in permits:
            permits.remove(permit)
            if not permits:
                self._async_blocks.pop(frame, None)  # type: ignore[arg-type]

    # -- manual operations -----------------------------------------------------------------

    def trip(self, reason: str | None = None) -> Transition | None:
        """Open now, as a trip would; half-opens after ``open_duration``."""
        return self._cb.manual("trip", reason)

    def force_open(self, reason: str | None = None) -> Transition | None:
        """Reject every call until :meth:`reset`."""
        return self._cb.manual("force_open", reason)

    def disable(self, reason: str | None = None) -> Transition | None:
        """Permit every call and record nothing until :meth:`reset`."""
        return self._cb.manual("disable", reason)

    def metrics_only(self, reason: str | None = None) -> Transition | None:
        """Permit and record every call, never tripping, until :meth:`reset`."""
        return self._cb.manual("metrics_only", reason)

    def reset(self, reason: str | None = None) -> Transition | None:
        """Closed, with a fresh window and the base open duration."""
        return self._cb.manual("reset", reason)
