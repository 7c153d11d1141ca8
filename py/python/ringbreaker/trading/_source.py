"""Where market data comes from: the ``MarketDataSource`` protocol, and an HTTP source on a
pooled ``httpx.AsyncClient`` with a timeout, bounded retries and a TTL cache with
single-flight. Transport failures never reach ``check()``: a failed field comes back
``None`` and ``last_market_data`` stays at the last success, so the staleness breaker sees
the outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from ._model import MarketSnapshot


@runtime_checkable
class MarketDataSource(Protocol):
    """Anything that can produce a snapshot and be closed."""

    async def snapshot(self, now: datetime) -> MarketSnapshot: ...

    async def aclose(self) -> None: ...


class HttpMarketDataSource:
    """JSON endpoints (paths relative to ``base_url``):

    * ``index``: ``{"level": float, "prior_close": float}``
    * ``vix``: ``{"value": float}``
    * ``halts``: ``{"halted": [str, ...]}``

    One pooled client (``max_connections`` keep-alive connections); each path cached for
    ``ttl`` seconds; concurrent callers of a path share one request in flight; each request
    times out after ``timeout`` seconds and is retried up to ``retries`` times on a timeout,
    a transport error or a 5xx.
    """

    def __init__(
        self,
        base_url: str,
        *,
        paths: Mapping[str, str] | None = None,
        ttl: float = 1.0,
        timeout: float = 0.5,
        retries: int = 2,
        max_connections: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx

        if ttl < 0 or timeout <= 0 or retries < 0 or max_connections < 1:
            raise ValueError("ttl >= 0, timeout > 0, retries >= 0 and max_connections >= 1 are required")
        self._httpx = httpx
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._paths = dict(paths or {"index": "/index", "vix": "/vix", "halts": "/halts"})
        self._ttl = ttl
        self._retries = retries
        self._clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._last_ok: datetime | None = None
        self.requests = self.cache_hits = self.shared = self.errors = self.timeouts = 0

    async def get_json(self, path: str) -> Any:
        """The JSON at `path`, from cache, from a request in flight, or fetched; ``None`` if
        every attempt failed."""
        hit = self._cache.get(path)
        if hit is not None and hit[0] > self._clock():
            self.cache_hits += 1
            return hit[1]
        pending = self._inflight.get(path)
        if pending is not None:
            self.shared += 1
            return await asyncio.shield(pending)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[path] = fut
        value: Any = None
        try:
            value = await self._fetch(path)
            if value is not None:
                self._cache[path] = (self._clock() + self._ttl, value)
            return value
        finally:
            del self._inflight[path]
            if not fut.done():
                fut.set_result(value)

    async def _fetch(self, path: str) -> Any:
        httpx = self._httpx
        for _ in range(self._retries + 1):
            self.requests += 1
            try:
                response = await self._client.get(path)
            except httpx.TimeoutException:
                self.timeouts += 1
                continue
            except httpx.HTTPError:
                self.errors += 1
                continue
            if response.status_code >= 500:
                self.errors += 1
                continue
            if response.status_code != 200:
                self.errors += 1
                return None
            try:
                return response.json()
            except ValueError:
                self.errors += 1
                return None
        return None

    async def snapshot(self, now: datetime) -> MarketSnapshot:
        index, vix, halts = await asyncio.gather(
            self.get_json(self._paths["index"]), self.get_json(self._paths["vix"]), self.get_json(self._paths["halts"])
        )

        def num(obj: Any, key: str) -> float | None:
            v = obj.get(key) if isinstance(obj, dict) else None
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        level, prior = num(index, "level"), num(index, "prior_close")
        if level is not None and prior is not None:
            self._last_ok = now
        halted = halts.get("halted") if isinstance(halts, dict) else None
        return MarketSnapshot(
            timestamp=now,
            index_level=level,
            index_prior_close=prior,
            vix=num(vix, "value"),
            last_market_data=self._last_ok,
            halted=frozenset(str(s) for s in halted) if isinstance(halted, list) else None,
        )

    async def aclose(self) -> None:
        """Close the pooled client."""
        await self._client.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether the client is closed."""
        return bool(self._client.is_closed)


def utc_now() -> datetime:
    """The current UTC time (aware)."""
    return datetime.now(timezone.utc)
