"""Registry: strong references, get_or_create, remove, the default registry, config clashes."""

from __future__ import annotations

import datetime

import pytest

import ringbreaker


def test_get_or_create_returns_the_same_breaker_with_its_state() -> None:
    reg = ringbreaker.Registry()
    cb = reg.get_or_create("orders", minimum_calls=1)
    cb.trip()
    del cb
    import gc

    gc.collect()
    again = reg.get_or_create("orders", minimum_calls=1)
    assert again.state is ringbreaker.State.OPEN  # not a new, empty breaker
    assert reg.get_or_create("orders") is again  # no options: as it is
    assert "orders" in reg and len(reg) == 1 and list(reg) == ["orders"]


def test_same_config_in_other_units_is_the_same() -> None:
    reg = ringbreaker.Registry()
    a = reg.get_or_create("x", window=10, open_duration=datetime.timedelta(seconds=5))
    assert reg.get_or_create("x", window=10.0, open_duration=5.0) is a


def test_different_config_is_a_clear_error() -> None:
    reg = ringbreaker.Registry()
    reg.get_or_create("pay", failure_rate=0.5)
    with pytest.raises(ringbreaker.ConfigError, match="'pay'.*different configuration") as info:
        reg.get_or_create("pay", failure_rate=0.9)
    assert info.value.parameter == "name"
    with pytest.raises(ValueError, match="timeout"):
        reg.get_or_create("pay", timeout=2.0)


def test_remove_and_register() -> None:
    reg = ringbreaker.Registry()
    cb = reg.get_or_create("a")
    assert reg.remove("a") is cb
    assert reg.remove("a") is None
    assert reg.get("a") is None
    with pytest.raises(KeyError):
        reg["a"]
    assert reg.register(cb) is cb
    with pytest.raises(ValueError, match="already registered"):
        reg.register(ringbreaker.CircuitBreaker("a"))
    with pytest.raises(TypeError):
        reg.register("a")  # type: ignore[arg-type]


def test_default_registry() -> None:
    cb = ringbreaker.get_or_create("default-registry-test", minimum_calls=3)
    try:
        assert ringbreaker.registry["default-registry-test"] is cb
        assert ringbreaker.get_or_create("default-registry-test", minimum_calls=3) is cb
    finally:
        ringbreaker.registry.remove("default-registry-test")
