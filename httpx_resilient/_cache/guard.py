"""Storage outages: skip a failing storage for a while instead of paying every request.

A storage that fails (a read-only file system, a locked or corrupt SQLite file, Redis
down or hung) is skipped for ``STORAGE_BACKOFF`` seconds measured from the failure (not
from the start of the failing call, which may itself have taken a timeout), and the
failure is logged once per period. Meanwhile requests go to the origin uncached. The
rule (``Outage``) is sans-IO; ``GuardedStorage`` applies it to a ``CacheStorage``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from .._core.clock import Clock
from .storage import CacheEntry, CacheStorage

__all__ = ["STORAGE_BACKOFF", "GuardedStorage", "Outage"]

logger = logging.getLogger("httpx_resilient.cache")

#: Seconds a failed storage is skipped, from the moment the failure was seen.
STORAGE_BACKOFF = 30.0


class Outage:
    """When a storage may be used again, judged on a monotonic ``now``.

    Args:
        backoff: seconds to skip the storage after a failure.
    """

    __slots__ = ("_backoff", "_until", "failures")

    def __init__(self, backoff: float = STORAGE_BACKOFF) -> None:
        self._backoff = backoff
        self._until = float("-inf")
        self.failures = 0

    def available(self, now: float) -> bool:
        """Whether the storage may be tried at ``now``."""
        return now >= self._until

    def failed(self, now: float) -> bool:
        """Record a failure seen at ``now``; True if it opens a new period (log it)."""
        self.failures += 1
        opens = now >= self._until
        self._until = now + self._backoff
        return opens


class GuardedStorage:
    """A ``CacheStorage`` whose failures become "nothing stored" and a skip period.

    Args:
        storage: the storage to guard.
        clock: read (monotonic ``now()``) when a call fails and before each call.
    """

    def __init__(self, storage: CacheStorage, clock: Clock) -> None:
        self.storage = storage
        self.outage = Outage()
        self._clock = clock

    def _failed(self, what: str, exc: Exception) -> None:
        if self.outage.failed(self._clock.now()):
            logger.warning(
                "cache storage %s failed (%s); skipping the storage for %.0f s",
                what,
                type(exc).__name__,
                STORAGE_BACKOFF,
            )

    async def secret(self) -> bytes | None:
        """The storage's secret, or ``None`` while it is unavailable."""
        if not self.outage.available(self._clock.now()):
            return None
        try:
            return await self.storage.secret()
        except Exception as exc:
            self._failed("open", exc)
            return None

    async def get(self, key: str) -> Sequence[CacheEntry]:
        """The entries under ``key``; none while the storage is unavailable."""
        if not self.outage.available(self._clock.now()):
            return ()
        try:
            return await self.storage.get(key)
        except Exception as exc:
            self._failed("lookup", exc)
            return ()

    async def write(self, operation: Callable[[CacheStorage], Awaitable[None]]) -> bool:
        """Await ``operation(storage)``; False if it failed or the storage is skipped."""
        if not self.outage.available(self._clock.now()):
            return False
        try:
            await operation(self.storage)
        except Exception as exc:
            self._failed("write", exc)
            return False
        return True
