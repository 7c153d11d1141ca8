"""Module-level guarded functions for the pickling tests (imported by worker processes)."""

from __future__ import annotations

import ringbreaker

cb = ringbreaker.get_or_create("workers", minimum_calls=1)


@cb
def double(x: int) -> int:
    return 2 * x


@cb
async def adouble(x: int) -> int:
    return 2 * x


def use_breaker(breaker: ringbreaker.CircuitBreaker, x: int) -> tuple[str, int]:
    return breaker.name, breaker.call(lambda: x + 1)
