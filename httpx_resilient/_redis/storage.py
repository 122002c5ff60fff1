"""``RedisStorage``: cache entries in Redis, shared by every process using the prefix.

Layout (``P`` is the prefix): ``P e:<key>`` is a hash of variant -> entry; ``P u:<url>``
is the set of primary keys stored for one URL (for invalidation); ``P secret`` holds the
hashing secret, created once with ``SET NX`` so every process computes the same keys.
Keys are keyed hashes: no credential or request header is ever written. Each write is
one Lua script (atomic), and every entry expires ``ttl`` seconds after its last write
(all variants of one key together). Memory is bounded by the TTL and by Redis's own
``maxmemory`` policy (reads refresh Redis's LRU clock, so ``allkeys-lru`` or
``volatile-lru`` evict the least recently used entries).

An entry is stored as one value: a JSON header (status, header lines, vary, times, URL
key) and, after a newline, the raw body. An entry that does not decode is skipped.

When Redis fails (refused, or hung until the operation timeout) the storage skips it
for a backoff period measured from the failure: lookups are misses and writes are
dropped, at the cost of a local call, logged once per period (``outage.py``). Built on
a ``RedisBackend`` (``RedisStorage(backend)``) it shares that backend's connection and
outage state with the rate limiter and the breaker. Invalidations dropped during an
outage are not replayed: entries are still bounded by their freshness and ``ttl``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from .._cache.storage import CacheEntry
from .._core.clock import Clock
from .._core.outcomes import ConfigError, Refused
from .client import RedisConnection, is_redis_error
from .link import RedisLink

_T = TypeVar("_T")

__all__ = ["RedisStorage"]

_PUT = """
-- KEYS: entry hash, URL index set. ARGV: variant, value, ttl ms, primary key.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

_INVALIDATE = """
-- KEYS: URL index set. ARGV: entry key prefix. Deletes every entry of one URL.
local members = redis.call('SMEMBERS', KEYS[1])
for _, member in ipairs(members) do redis.call('DEL', ARGV[1] .. member) end
redis.call('DEL', KEYS[1])
return #members
"""

_SHARED_KEY = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode(entry: CacheEntry) -> bytes:
    head = {
        "u": entry.url_key,
        "v": list(entry.vary),
        "s": entry.status,
        "h": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in entry.headers],
        "q": entry.request_time,
        "r": entry.response_time,
    }
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + entry.body


def _decode(key: str, variant: str, value: bytes) -> CacheEntry | None:
    head, _, body = value.partition(b"\n")
    try:
        d = json.loads(head)
        return CacheEntry(
            key=key,
            variant=variant,
            url_key=str(d["u"]),
            vary=tuple(str(v) for v in d["v"]),
            status=int(d["s"]),
            headers=tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in d["h"]),
            body=body,
            request_time=float(d["q"]),
            response_time=float(d["r"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class RedisStorage:
    """Cache entries in Redis; shared by every process using the same prefix.

    Args:
        client_or_url: a ``redis://`` (``rediss://``, ``unix://``) URL, a coredis
            client, or a ``RedisBackend`` (its connection and outage state are shared).
        prefix: prepended to every key (default ``"httpx_resilient:cache:"``).
        ttl: seconds an entry is kept after its last write (default 86,400: one day);
            freshness is still judged by the cache rules.
        backoff: seconds Redis is skipped after a failure (as ``RedisBackend``; set it
            on the backend when one is given).
        clock: the clock that times the backoff (default: the system's).

    Raises:
        ConfigError: an argument is invalid (the message names it).

    Use it as ``async with storage:`` (it starts the client's connection pool).
    """

    def __init__(
        self,
        client_or_url: object,
        *,
        prefix: str = "httpx_resilient:cache:",
        ttl: float = 86_400.0,
        backoff: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError("RedisStorage.prefix", f"must be a non-empty str, got {prefix!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ConfigError("RedisStorage.ttl", f"must be a number of seconds > 0, got {ttl!r}")
        self.prefix = prefix
        self.ttl = float(ttl)
        self._ttl_ms = str(max(1, round(self.ttl * 1000)))
        if isinstance(client_or_url, RedisLink):
            if backoff is not None or clock is not None:
                raise ConfigError(
                    "RedisStorage.backoff", "set backoff and clock on the RedisBackend given"
                )
            self.connection = client_or_url.connection
        else:
            self.connection = RedisConnection(
                client_or_url, "RedisStorage", backoff=backoff, clock=clock
            )
        self._secret: bytes | None = None

    async def __aenter__(self) -> RedisStorage:
        await self.connection.enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.connection.exit((exc_type, exc_value, traceback))

    async def _guarded(self, call: Callable[[], Awaitable[_T]], default: _T) -> _T:
        """``call()``, or ``default`` when Redis fails or is in a backoff period."""
        connection = self.connection
        connection.check_open("RedisStorage")
        outage = connection.outage
        if outage.skip():
            return default
        started = outage.started()
        try:
            result = await call()
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            outage.failed(exc, connection.redact(str(exc)), "cache")
            return default
        outage.succeeded(started)
        return result

    async def _run(
        self, name: str, source: str, keys: Sequence[str], args: Sequence[str | bytes]
    ) -> Any:
        return await self._guarded(lambda: self.connection.run(name, source, keys, args), None)

    async def secret(self) -> bytes:
        if self._secret is None:
            found = await self._run(
                "cache_secret", _SHARED_KEY, [f"{self.prefix}secret"], [os.urandom(32).hex()]
            )
            if found is None:  # every process must agree on it: no stand-in
                raise Refused("ResilienceError", "cache storage unavailable (Redis unreachable)")
            self._secret = bytes.fromhex(_text(found))
        return self._secret

    async def _hgetall(self, name: str) -> dict[Any, Any]:
        client = self.connection.client
        decoding = getattr(client, "decoding", None)
        if decoding is not None:
            with decoding(False):
                return dict(await client.hgetall(name))
        return dict(await client.hgetall(name))

    async def get(self, key: str) -> Sequence[CacheEntry]:
        empty: dict[Any, Any] = {}
        found = await self._guarded(lambda: self._hgetall(f"{self.prefix}e:{key}"), empty)
        entries = []
        for variant, value in found.items():
            entry = _decode(key, _text(variant), value)
            if entry is not None:
                entries.append(entry)
        return entries

    async def put(self, entry: CacheEntry) -> None:
        keys = [f"{self.prefix}e:{entry.key}", f"{self.prefix}u:{entry.url_key}"]
        args: list[str | bytes] = [entry.variant, _encode(entry), self._ttl_ms, entry.key]
        await self._run("cache_put", _PUT, keys, args)

    async def delete(self, key: str, variant: str) -> None:
        client = self.connection.client
        await self._guarded(lambda: client.hdel(f"{self.prefix}e:{key}", [variant]), None)

    async def invalidate(self, url_key: str) -> None:
        await self._run(
            "cache_invalidate", _INVALIDATE, [f"{self.prefix}u:{url_key}"], [f"{self.prefix}e:"]
        )

    async def _scan(self, kind: str) -> list[str]:
        self.connection.check_open("RedisStorage")
        escaped = "".join(f"[{c}]" if c in "*?[]\\" else c for c in self.prefix)
        client = self.connection.client
        return [_text(name) async for name in client.scan_iter(match=f"{escaped}{kind}:*")]

    async def clear(self) -> None:
        names = await self._scan("e") + await self._scan("u")
        for start in range(0, len(names), 512):
            await self.connection.client.delete(names[start : start + 512])

    async def count(self) -> int:
        """How many entries (variants) are stored under the prefix (for inspection)."""
        total = 0
        for name in await self._scan("e"):
            total += int(await self.connection.client.hlen(name))
        return total

    async def aclose(self) -> None:
        """Nothing to release: the connection pool closes with ``async with``."""

    def __repr__(self) -> str:
        return f"RedisStorage({self.connection}, prefix={self.prefix!r}, ttl={self.ttl:g})"
