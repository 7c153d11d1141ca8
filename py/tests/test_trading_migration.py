"""The old facade's names still work, each as a thin deprecated alias of the new one."""

from __future__ import annotations

import asyncio

import pytest

from ringbreaker.trading import BreakerEvent, TradingBreakers


def test_old_names_are_deprecated_aliases() -> None:
    async def main() -> None:
        tb = TradingBreakers.from_config({})
        got: list[int] = []
        with pytest.deprecated_call(match="subscribe"):
            sub = tb.add_event_callback(lambda e: got.append(e.seq))
        tb.trip("kill_switch", "x")
        await tb.drain()
        assert got == [1] and sub.delivered == 1
        with pytest.deprecated_call(match="statistics"):
            assert tb.get_statistics()["events"] == tb.statistics()["events"] == 1
        with pytest.deprecated_call(match="breakers"):
            assert tb.get_all_breakers() is tb.breakers
        with pytest.deprecated_call(match="close"):
            await tb.shutdown()
        assert tb.closed
        with pytest.deprecated_call(match="close"):
            await tb.cleanup()  # idempotent, like close()

    asyncio.run(main())


def test_async_subscribers_through_the_old_name_are_awaited() -> None:
    async def main() -> list[str]:
        seen: list[str] = []

        async def cb(e: BreakerEvent) -> None:
            await asyncio.sleep(0)
            seen.append(e.breaker)

        async with TradingBreakers.from_config({}) as tb:
            with pytest.deprecated_call():
                tb.add_event_callback(cb)
            tb.trip("kill_switch", "x")
            await tb.drain()
        return seen

    assert asyncio.run(main()) == ["kill_switch"]
