"""``MemoryStorage``: the default cache storage, an LRU bounded by entries and bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from .._core.credentials import PROCESS_KEY
from .._core.outcomes import ConfigError
from .._core.validate import MIB
from .storage import CacheEntry

__all__ = ["MemoryStorage"]


def _bound(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"MemoryStorage.{name}", f"must be an integer >= 1, got {value!r}")
    return value


class MemoryStorage:
    """Entries in this process's memory, least recently used evicted first.

    Both bounds hold at all times: at most ``max_entries`` entries (each ``Vary``
    variant counts) and at most ``max_bytes`` bytes (bodies plus headers plus a small
    per-entry overhead). An entry larger than ``max_bytes`` on its own is not kept.
    Every method completes without suspending, so a cancelled caller can't leave a
    half-written entry.

    Args:
        max_entries: most entries kept (default 10,000).
        max_bytes: most bytes kept (default 256 MiB).
    """

    def __init__(self, *, max_entries: int = 10_000, max_bytes: int = 256 * MIB) -> None:
        self.max_entries = _bound("max_entries", max_entries)
        self.max_bytes = _bound("max_bytes", max_bytes)
        # key -> its variants, in LRU order; a group list is replaced, never mutated,
        # so a sequence returned by get() stays valid.
        self._groups: OrderedDict[str, list[CacheEntry]] = OrderedDict()
        self._urls: dict[str, set[str]] = {}
        self._count = 0
        self._bytes = 0

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        """Bytes currently charged against ``max_bytes``."""
        return self._bytes

    def entries(self) -> list[CacheEntry]:
        """Every stored entry, least recently used first (for inspection and tests)."""
        return [entry for group in self._groups.values() for entry in group]

    async def secret(self) -> bytes:
        return PROCESS_KEY

    async def get(self, key: str) -> Sequence[CacheEntry]:
        group = self._groups.get(key)
        if group is None:
            return ()
        self._groups.move_to_end(key)
        return group

    async def put(self, entry: CacheEntry) -> None:
        self._remove(entry.key, entry.variant)
        if entry.size > self.max_bytes:
            return
        group = self._groups.get(entry.key)
        self._groups[entry.key] = [*group, entry] if group else [entry]
        self._groups.move_to_end(entry.key)
        self._urls.setdefault(entry.url_key, set()).add(entry.key)
        self._count += 1
        self._bytes += entry.size
        while self._count > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._groups))
            self._drop_group(oldest)

    async def delete(self, key: str, variant: str) -> None:
        self._remove(key, variant)

    async def invalidate(self, url_key: str) -> None:
        for key in self._urls.pop(url_key, ()):
            self._drop_group(key)

    async def clear(self) -> None:
        self._groups.clear()
        self._urls.clear()
        self._count = self._bytes = 0

    async def aclose(self) -> None:
        return None

    def _remove(self, key: str, variant: str) -> None:
        group = self._groups.get(key)
        if group is None:
            return
        kept = [entry for entry in group if entry.variant != variant]
        if len(kept) == len(group):
            return
        if not kept:
            self._drop_group(key)
            return
        for entry in group:
            if entry.variant == variant:
                self._count -= 1
                self._bytes -= entry.size
        self._groups[key] = kept

    def _drop_group(self, key: str) -> None:
        group = self._groups.pop(key, None)
        if group is None:
            return
        for entry in group:
            self._count -= 1
            self._bytes -= entry.size
            keys = self._urls.get(entry.url_key)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._urls[entry.url_key]

    def __repr__(self) -> str:
        return (
            f"MemoryStorage(entries={self._count}/{self.max_entries}, "
            f"bytes={self._bytes}/{self.max_bytes})"
        )
