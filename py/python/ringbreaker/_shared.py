"""``shared``: one breaker shared by every process on the host that opens the same region."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import _native
from ._breaker import CircuitBreaker
from ._types import Transition


@dataclass(frozen=True, slots=True)
class SharedHistory:
    """Transitions read from a shared region's journal (see :meth:`SharedCircuitBreaker.history`)."""

    transitions: tuple[Transition, ...]
    """Transitions after the generation asked for, oldest first."""
    missed: int
    """Generations after the one asked for that the journal cannot show (overwritten by 64
    newer ones, or made by a C caller that did not journal them)."""
    generation: int
    """The current generation: pass it as ``since`` next time."""


def _path(name: str, path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        return os.fspath(path)
    return _native.shared_default_path(name)


class SharedCircuitBreaker(CircuitBreaker):
    """A :class:`CircuitBreaker` whose state lives in a file mapped by every process that opens
    it (see :func:`shared`). Everything a ``CircuitBreaker`` does works the same; listeners see
    the transitions this process makes, and :meth:`history` the ones every process made."""

    __slots__ = ()

    def __init__(self, name: str, *, path: str | os.PathLike[str] | None = None, **config: Any) -> None:
        where = _path(name, path)
        super().__init__(name, **config)
        self._cb = _native.share(self._cb, where)
        self._bind_call()

    def info(self) -> dict[str, Any]:
        """The region's header: path, how this process opened it (``"created"``,
        ``"attached"`` or ``"recovered"`` from a creator that died mid-creation, with
        ``dead_creator_pid``), creator pid and time, region id, layout and config hashes."""
        return dict(_native.shared_info(self._cb))

    @property
    def path(self) -> str:
        """The region's file."""
        return str(_native.shared_info(self._cb)["path"])

    @property
    def region_id(self) -> int:
        """The id stamped into this breaker's permits, the same in every process."""
        return int(_native.shared_info(self._cb)["region_id"])

    def history(self, since: int) -> SharedHistory:
        """Transitions after generation ``since`` made by any process, from the region's
        journal of the last 64. Every transition bumps the generation by one, so ``missed``
        counts exactly the ones it cannot show. Start from ``metrics().generation``."""
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since < 2**32:
            raise ValueError(f"since must be a generation (an int in 0..2**32-1), got {since!r}")
        ts, missed, generation = _native.shared_history(self._cb, since)
        return SharedHistory(transitions=tuple(ts), missed=missed, generation=generation)

    def unlink(self) -> None:
        """Remove the region's file. This and every other process keep using the breaker; the
        next :func:`shared` of the same path creates a new, separate one."""
        unlink_shared(path=self.path)


def shared(name: str, *, path: str | os.PathLike[str] | None = None, **config: Any) -> SharedCircuitBreaker:
    """Open the breaker ``name`` shared by every process on this host, creating it if needed.

    The region is the file ``path`` (default ``/dev/shm/ringbreaker.<name>``), mapped into each
    process; it outlives them all until :func:`unlink_shared`. ``config`` takes the keyword
    arguments of :class:`CircuitBreaker` (``window``, ``failure_rate``, ``open_duration``, ...,
    ``failure_on``, ``ignore``, ``clock``). Every process must pass the same breaker
    configuration, or :class:`SharedRegionError` (kind ``"config"``) names what differs.
    ``failure_on``, ``ignore`` and listeners stay per process.

    Times must agree between processes: the default clock is ``CLOCK_MONOTONIC`` (C's
    ``rb_now_ns()``, Rust's ``SharedBreaker::now_ns``), not the per-process
    :func:`ringbreaker.now_ns`. A ``clock`` you pass must be host-wide too (for example
    ``time.monotonic_ns`` on Linux).
    """
    return SharedCircuitBreaker(name, path=path, **config)


def unlink_shared(name: str | None = None, *, path: str | os.PathLike[str] | None = None) -> None:
    """Remove the region of ``name`` (or the file ``path``). Nothing else ever removes it."""
    if (name is None) == (path is None):
        raise TypeError("unlink_shared takes a name or a path, not both")
    _native.shared_unlink(_path(name or "", path))


shared_now_ns = _native.shared_now_ns
