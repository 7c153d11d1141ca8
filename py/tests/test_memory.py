"""Memory: rejections allocate nothing that stays; breakers are not kept alive by registries."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import ringbreaker


def test_a_million_rejections_do_not_grow_memory() -> None:
    cb = ringbreaker.CircuitBreaker("rejecting")
    cb.force_open()

    @cb
    def never() -> None:
        raise AssertionError("not called")

    def reject(n: int) -> None:
        for _ in range(n):
            try:
                never()
            except ringbreaker.CircuitOpenError:
                pass

    reject(10_000)  # warm caches, interned objects
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    reject(1_000_000)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 16 * 1024, f"grew by {after - before} bytes"
    assert cb.metrics().rejected == 1_010_000


def test_removed_breaker_is_collected() -> None:
    registry = ringbreaker.Registry()
    cb = registry.create("ephemeral", minimum_calls=1)
    ref = weakref.ref(cb)
    events: list[object] = []
    cb.subscribe(events.append)  # a listener must not keep it alive either

    @cb
    def f() -> int:
        return 1

    assert f() == 1
    assert "ephemeral" in registry
    del cb, f
    gc.collect()
    assert ref() is not None, "the registry holds its breakers strongly"
    assert registry.remove("ephemeral") is ref()
    gc.collect()
    assert ref() is None
    assert "ephemeral" not in registry
    assert len(registry) == 0
