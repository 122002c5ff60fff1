"""The stored-entry record and the async interface every cache storage implements.

An entry holds what is needed to answer a later request, and nothing of the request
that produced it: keys are keyed hashes (of method, URL and credentials; of the
``Vary``-named request headers), so neither credentials nor the raw headers a response
varies on ever reach a storage. Times are wall seconds so that entries written by one
process are judged correctly by another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["ENTRY_OVERHEAD", "CacheEntry", "CacheStorage"]

#: Bytes charged per entry and per header line on top of the body, for byte bounds.
ENTRY_OVERHEAD = 256


@dataclass(slots=True, eq=False)
class CacheEntry:
    """One stored response.

    Attributes:
        key: primary key: keyed hash of method, URL and the credential fingerprint.
        variant: secondary key: keyed hash of the request headers named by ``vary``
            (``""`` when the response has no ``Vary``).
        url_key: keyed hash of the URL alone, for invalidation by unsafe requests.
        vary: the lower-cased header names of the response's ``Vary``.
        status: the response status.
        headers: the stored response header lines, raw (hop-by-hop, ``Set-Cookie``
            unless opted in, and fields the response forbids to store removed).
        body: the raw body, still content-encoded.
        request_time: wall time (Unix seconds) the request was sent.
        response_time: wall time the response was received.
        memo: parsed view cached by the transport; never persisted.
    """

    key: str
    variant: str
    url_key: str
    vary: tuple[str, ...]
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    request_time: float
    response_time: float
    memo: Any = field(default=None, repr=False)
    size: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.size = (
            ENTRY_OVERHEAD
            + len(self.body)
            + sum(len(name) + len(value) + 4 for name, value in self.headers)
        )


@runtime_checkable
class CacheStorage(Protocol):
    """Where ``CacheTransport`` keeps entries: memory, SQLite, later Redis.

    Every method may be awaited from asyncio or trio. Implementations must be bounded,
    must not block the event loop, and must make each write atomic: a cancelled call
    leaves either the old state or the new one, never a half-written entry.
    """

    async def secret(self) -> bytes:
        """The key for hashing credentials and URLs; shared by every user of the store."""
        ...

    async def get(self, key: str) -> Sequence[CacheEntry]:
        """Every variant stored under ``key`` (possibly none); counts as a use for LRU.

        The caller must not mutate the returned sequence or entries.
        """
        ...

    async def put(self, entry: CacheEntry) -> None:
        """Store ``entry``, replacing the one with the same ``key`` and ``variant``."""
        ...

    async def delete(self, key: str, variant: str) -> None:
        """Remove one variant, if present."""
        ...

    async def invalidate(self, url_key: str) -> None:
        """Remove every entry of one URL: all methods, credentials and variants."""
        ...

    async def clear(self) -> None:
        """Remove every entry."""
        ...

    async def aclose(self) -> None:
        """Release resources (idempotent)."""
        ...
