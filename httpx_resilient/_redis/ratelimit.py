"""``RedisRateLimitBackend``: the ``RateLimitBackend`` protocol on Redis.

``try_acquire`` is one Lua script (``ACQUIRE``) covering every limit of the request:
it refills each bucket from the Redis server's clock, and takes a token from all of them
or from none. Throttling (pause, rate decrease) and recovery are one script each, on the
same hash per bucket, so every process sees the server's hints and the lowered rate.

A grant that lands on a caller cancelled while the script ran is given back (one more
script), so a cancelled waiter never loses a token. While Redis is unreachable in
fail-open mode, buckets in this process (an ``InProcessBackend``) serve instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel

from .._core.snapshots import BucketState
from .._ratelimit.backend import InProcessBackend
from .._ratelimit.bucket import Limit
from .bucket_scripts import ACQUIRE, RECOVER, THROTTLE
from .client import BackendError
from .link import Guard, RedisLink

__all__ = ["RedisRateLimitBackend"]

_MAX_TRACKED = 4096


class _Seen:
    """A bucket as the last script reported it (for ``statistics()``; no I/O)."""

    __slots__ = ("at", "paused_until", "rate", "tokens")

    def __init__(self, tokens: float, rate: float, paused_until: float, at: float) -> None:
        self.tokens = tokens
        self.rate = rate
        self.paused_until = paused_until
        self.at = at


class RedisRateLimitBackend:
    """Token buckets in Redis, one hash per limit and key, shared by every process.

    Built by ``RedisBackend.rate_limit_backend()``; ``RateLimitTransport`` calls it.
    Waits returned are durations, measured on the Redis server's clock.
    """

    def __init__(self, backend: RedisLink) -> None:
        self._backend = backend
        self._prefix = f"{backend.prefix}rl:"
        self._guard = Guard(backend, "rate limit")
        self._local = InProcessBackend()
        self._tails: dict[tuple[Limit, ...], list[str]] = {}
        self._degraded: set[str] = set()
        self._seen: dict[tuple[str, str], _Seen] = {}

    @property
    def local(self) -> InProcessBackend:
        """The buckets that serve while Redis is unreachable (fail-open mode)."""
        return self._local

    def _tail(self, limits: Sequence[Limit]) -> list[str]:
        key = tuple(limits)
        tail = self._tails.get(key)
        if tail is None:
            tail = self._tails[key] = [
                repr(float(value))
                for limit in limits
                for value in (limit.capacity, limit.rate, limit.recovery_seconds, limit.max_pause)
            ]
        return tail

    def _keys(self, limits: Sequence[Limit], keys: Sequence[str]) -> list[str]:
        prefix = self._prefix
        return [f"{prefix}{limit.name}:{key}" for limit, key in zip(limits, keys, strict=True)]

    async def _run(
        self,
        name: str,
        source: str,
        limits: Sequence[Limit],
        keys: Sequence[str],
        now: float,
        head: tuple[str, str],
    ) -> list[Any] | None:
        """Run a bucket script; ``None`` when local state must serve instead."""
        if self._guard.skip(now):
            return None
        args = [self._backend.now_arg(now), *head, *self._tail(limits)]
        try:
            result: list[Any] = await self._backend.run(
                name, source, self._keys(limits, keys), args
            )
        except BackendError as error:
            self._guard.failed(error, now)
            return None
        self._absorb(limits, keys, result, now)
        return result

    def _absorb(
        self, limits: Sequence[Limit], keys: Sequence[str], result: list[Any], now: float
    ) -> None:
        """Remember what the script reported: bucket states and lowered rates."""
        seen = self._seen
        if len(seen) >= _MAX_TRACKED:
            seen.clear()
        degraded = self._degraded
        if len(degraded) >= _MAX_TRACKED:
            degraded.clear()
        prefix = self._prefix
        for i, (limit, key) in enumerate(zip(limits, keys, strict=True)):
            j = 2 + 3 * i
            rate = float(result[j + 1])
            seen[limit.name, key] = _Seen(float(result[j]), rate, now + float(result[j + 2]), now)
            if rate < limit.rate:
                degraded.add(f"{prefix}{limit.name}:{key}")
            else:
                degraded.discard(f"{prefix}{limit.name}:{key}")

    async def try_acquire(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        head = (repr(float(cost)), "take")
        with anyio.CancelScope(shield=True):  # learn the outcome even if cancelled
            result = await self._run("acquire", ACQUIRE, limits, keys, now, head)
        if result is None:
            return self._local.acquire_now(limits, keys, cost, now)
        wait = float(result[0])
        if wait <= 0.0:
            try:
                await anyio.lowlevel.checkpoint_if_cancelled()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._run("acquire", ACQUIRE, limits, keys, now, (head[0], "refund"))
                raise
        return wait

    async def wait_time(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        result = await self._run("acquire", ACQUIRE, limits, keys, now, (repr(cost), "peek"))
        if result is None:
            return self._local.wait_time_now(limits, keys, cost, now)
        return float(result[0])

    async def throttle(
        self,
        limits: Sequence[Limit],
        keys: Sequence[str],
        now: float,
        *,
        pause: float | None,
        decrease: bool,
    ) -> None:
        head = ("" if pause is None else repr(float(pause)), "1" if decrease else "0")
        if await self._run("throttle", THROTTLE, limits, keys, now, head) is None:
            self._local.throttle_now(limits, keys, now, pause=pause, decrease=decrease)

    async def recover(self, limits: Sequence[Limit], keys: Sequence[str], now: float) -> None:
        if self._local.recovering:
            self._local.recover_now(limits, keys, now)
        degraded = self._degraded
        if degraded and any(key in degraded for key in self._keys(limits, keys)):
            await self._run("recover", RECOVER, limits, keys, now, ("", ""))

    @property
    def recovering(self) -> bool:
        """Whether a bucket this process used last ran below its configured rate."""
        return bool(self._degraded) or self._local.recovering

    def buckets(self, limits: Sequence[Limit], now: float) -> tuple[BucketState, ...]:
        """Buckets as Redis last reported them (refilled to ``now``), then local ones."""
        states: dict[tuple[int, str], BucketState] = {}
        for limit in limits:
            for (name, key), seen in list(self._seen.items()):
                if name != limit.name:
                    continue
                start = max(seen.at, seen.paused_until)
                tokens = seen.tokens
                if now > start:
                    tokens = min(limit.capacity, tokens + (now - start) * seen.rate)
                states[limit.index, key] = BucketState(
                    limit_index=limit.index,
                    key=key,
                    tokens=tokens,
                    rate=seen.rate,
                    capacity=limit.capacity,
                    paused_until=seen.paused_until if seen.paused_until > now else None,
                )
        for state in self._local.buckets(limits, now):
            states[state.limit_index, state.key] = state
        return tuple(states.values())

    def __repr__(self) -> str:
        return f"RedisRateLimitBackend({self._backend!r})"
