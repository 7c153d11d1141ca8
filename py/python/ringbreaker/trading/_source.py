"""Where market data comes from: the ``MarketDataSource`` protocol, and an HTTP source on a
pooled ``httpx.AsyncClient``.

Nothing a server sends may escape as an exception, hang the caller, exhaust memory or flip the
desk's state the wrong way:

* ``timeout`` is a total deadline per poll (all paths, all retries, however slowly the server
  drips its headers or body);
* a body larger than ``max_body`` bytes is refused, and a compressed body is inflated by this
  class, never past ``max_body`` (a gzip bomb costs at most ``max_body`` bytes);
* a ``Retry-After`` on a 429 or 503 is honoured: that path is not asked again before then;
* the per-path cache holds at most ``max_paths`` paths;
* bad content (invalid JSON, NaN, huge integers, deep nesting, wrong types, invalid or
  implausible readings) becomes a rejected reading in ``snapshot.rejected``, counted by the
  facade's data-quality breaker and never fed to the rules; a transport failure leaves the
  fields ``None`` and ``last_market_data`` at the last good reading, so the staleness breaker
  sees the outage.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from ._model import INDEX_PLAUSIBLE_MOVE, VIX_PLAUSIBLE, MarketSnapshot


@runtime_checkable
class MarketDataSource(Protocol):
    """Anything that can produce a snapshot and be closed."""

    async def snapshot(self, now: datetime) -> MarketSnapshot: ...

    async def aclose(self) -> None: ...


class BadData(Exception):
    """A response whose content is unusable (its message says why)."""


MAX_INT_DIGITS = 30
MAX_SYMBOLS = 10_000


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadData(f"integer of {len(text)} digits")
    return int(text)


def _parse_constant(text: str) -> Any:
    raise BadData(f"{text} is not a number")


def decode_json(body: bytes) -> Any:
    """Parse a JSON body; every problem is a :class:`BadData` naming it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadData("body is not UTF-8") from None
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except RecursionError:
        raise BadData("JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, and the int-digits limit of Python >= 3.11
        raise BadData(f"invalid JSON: {str(e)[:80]}") from None


class HttpMarketDataSource:
    """JSON endpoints (paths relative to ``base_url``):

    * ``index``: ``{"level": float, "prior_close": float}``
    * ``vix``: ``{"value": float}``
    * ``halts``: ``{"halted": [str, ...]}``

    One pooled client (``max_connections`` keep-alive connections); each path cached for
    ``ttl`` seconds (at most ``max_paths`` paths); concurrent callers of a path share one
    request in flight; a poll (``snapshot``, or one ``get_json``) ends within ``timeout``
    seconds in total, retrying timeouts, transport errors and 5xx up to ``retries`` times while
    time remains; bodies over ``max_body`` bytes (after decompression) are refused.
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
        max_body: int = 1_000_000,
        max_paths: int = 64,
        max_retry_after: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx

        if not (0 <= ttl <= 86_400 and 0 < timeout <= 3_600 and 0 <= retries <= 100 and 1 <= max_connections <= 1_000
                and 1 <= max_body <= 1_000_000_000 and 1 <= max_paths <= 100_000 and 0 <= max_retry_after <= 86_400):
            raise ValueError("need 0 <= ttl <= 86400, 0 < timeout <= 3600, 0 <= retries <= 100, "
                             "1 <= max_connections <= 1000, 1 <= max_body <= 1e9, 1 <= max_paths <= 100000, "
                             "0 <= max_retry_after <= 86400")
        self._httpx = httpx
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._paths = dict(paths or {"index": "/index", "vix": "/vix", "halts": "/halts"})
        self._ttl = ttl
        self._timeout = timeout
        self._retries = retries
        self._max_body = max_body
        self._max_paths = max_paths
        self._max_retry_after = max_retry_after
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._blocked: OrderedDict[str, float] = OrderedDict()  # path -> clock() before which not to ask
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._problems: dict[str, str] = {}
        self._last_ok: datetime | None = None
        self.requests = self.cache_hits = self.shared = self.errors = self.timeouts = 0
        self.bad_data = self.too_large = self.retry_after_skips = 0

    @property
    def cached_paths(self) -> int:
        """How many paths the cache holds (at most ``max_paths``)."""
        return len(self._cache)

    async def get_json(self, path: str) -> Any:
        """The JSON at `path`, from cache, from a request in flight, or fetched within
        ``timeout``; ``None`` if it could not be had (the reason is kept for the snapshot)."""
        try:
            return await asyncio.wait_for(self._get(path), self._timeout)
        except asyncio.TimeoutError:
            self.timeouts += 1
            return None

    async def _get(self, path: str) -> Any:
        now = self._clock()
        hit = self._cache.get(path)
        if hit is not None and hit[0] > now:
            self.cache_hits += 1
            self._cache.move_to_end(path)
            return hit[1]
        until = self._blocked.get(path)
        if until is not None:
            if until > now:
                self.retry_after_skips += 1
                return None
            del self._blocked[path]
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
                self._cache.move_to_end(path)
                while len(self._cache) > self._max_paths:
                    self._cache.popitem(last=False)
            return value
        finally:
            del self._inflight[path]
            if not fut.done():
                fut.set_result(value)

    def _retry_after(self, path: str, header: str | None) -> None:
        if header is None:
            return
        seconds: float | None = None
        try:
            seconds = float(int(header.strip()))
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
                seconds = (when - datetime.now(timezone.utc)).total_seconds()
            except (TypeError, ValueError, OverflowError):
                seconds = None
        if seconds is None or not math.isfinite(seconds):
            return
        self._blocked[path] = self._clock() + min(max(seconds, 0.0), self._max_retry_after)
        self._blocked.move_to_end(path)
        while len(self._blocked) > self._max_paths:
            self._blocked.popitem(last=False)

    async def _read_body(self, response: Any) -> bytes:
        """The decoded body, never more than ``max_body`` bytes of it inflated."""
        cap = self._max_body
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cap:
            raise BadData(f"body of {length} bytes is over the {cap}-byte cap")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            inflater: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            inflater = zlib.decompressobj(zlib.MAX_WBITS)
        elif encoding in ("identity", ""):
            inflater = None
        else:
            raise BadData(f"unsupported content-encoding {encoding[:20]!r}")
        out = bytearray()
        raw_total = 0
        async for chunk in response.aiter_raw():
            raw_total += len(chunk)
            if raw_total > cap:
                raise BadData(f"body over the {cap}-byte cap")
            if inflater is None:
                out += chunk
            else:
                data = chunk
                while data:
                    try:
                        out += inflater.decompress(data, cap + 1 - len(out))
                    except zlib.error:
                        raise BadData(f"corrupt {encoding} body") from None
                    if len(out) > cap:
                        raise BadData(f"body inflates past the {cap}-byte cap")
                    data = inflater.unconsumed_tail
            if len(out) > cap:
                raise BadData(f"body over the {cap}-byte cap")
        return bytes(out)

    async def _fetch(self, path: str) -> Any:
        httpx = self._httpx
        self._problems.pop(path, None)
        for _ in range(self._retries + 1):
            self.requests += 1
            try:
                async with self._client.stream("GET", path, headers={"Accept-Encoding": "gzip, deflate"}) as response:
                    status = response.status_code
                    if status in (429, 503):
                        self.errors += 1
                        self._retry_after(path, response.headers.get("retry-after"))
                        if path in self._blocked:
                            return None  # honour it: no retry in this poll either
                        if status == 429:
                            return None
                        continue
                    if status >= 500:
                        self.errors += 1
                        continue
                    if status != 200:
                        self.errors += 1
                        return None
                    body = await self._read_body(response)
            except httpx.TimeoutException:
                self.timeouts += 1
                continue
            except httpx.HTTPError:
                self.errors += 1
                continue
            except BadData as e:
                self.bad_data += 1
                if "cap" in str(e):
                    self.too_large += 1
                self._problems[path] = str(e)
                return None
            try:
                return decode_json(body)
            except BadData as e:
                self.bad_data += 1
                self._problems[path] = str(e)
                return None
        return None

    async def snapshot(self, now: datetime) -> MarketSnapshot:
        """Poll every path (within ``timeout`` in total) and build a snapshot; never raises for
        anything the server sends."""
        keys = ("index", "vix", "halts")
        # the paths in parallel, each within the one deadline: a slow path loses only itself
        index, vix, halts = await asyncio.gather(*(self.get_json(self._paths[k]) for k in keys))
        rejected: list[str] = [f"{k}: {self._problems.pop(self._paths[k])}" for k in keys
                               if self._paths[k] in self._problems]

        def num(obj: Any, key: str, where: str, low: float, high: float) -> float | None:
            if not isinstance(obj, dict) or key not in obj:
                if obj is not None:
                    rejected.append(f"{where}.{key}: missing")
                return None
            v = obj[key]
            if isinstance(v, bool) or not isinstance(v, int | float):
                rejected.append(f"{where}.{key}: expected a number, got {type(v).__name__}")
                return None
            f = float(v)
            if not (math.isfinite(f) and low <= f <= high):
                rejected.append(f"{where}.{key}: {f!r} is invalid or implausible (accepted {low:g}..{high:g})")
                return None
            return f

        level = num(index, "level", "index", 1e-6, 1e12)
        prior = num(index, "prior_close", "index", 1e-6, 1e12)
        if level is not None and prior is not None and abs(level / prior - 1.0) > INDEX_PLAUSIBLE_MOVE:
            rejected.append(f"index.level: {level:g} is {level / prior - 1.0:+.0%} from the prior close {prior:g} "
                            f"(plausible: within +-{INDEX_PLAUSIBLE_MOVE:.0%})")
            level = None
        if level is not None and prior is not None:
            self._last_ok = now
        elif level is None or prior is None:
            level = prior = None
        vix_value = num(vix, "value", "vix", *VIX_PLAUSIBLE)
        halted_set: frozenset[str] | None = None
        if isinstance(halts, dict):
            h = halts.get("halted")
            if (isinstance(h, list) and len(h) <= MAX_SYMBOLS
                    and all(isinstance(s, str) and 0 < len(s) <= 32 for s in h)):
                halted_set = frozenset(h)
            else:
                rejected.append("halts.halted: expected a list of at most 10000 symbols of 1..32 characters")
        elif halts is not None:
            rejected.append("halts: expected an object")
        return MarketSnapshot(
            timestamp=now,
            index_level=level,
            index_prior_close=prior,
            vix=vix_value,
            last_market_data=self._last_ok,
            halted=halted_set,
            rejected=tuple(rejected),
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
