"""HTTP cache layer (RFC 9111): ``CacheTransport`` and its storages.

- ``CacheTransport(inner, config, *, clock=None)``: the transport.
- ``CacheStorage``: the async protocol a storage implements; ``CacheEntry`` its record.
- ``MemoryStorage``: in-process LRU bounded by entries and bytes (the default).
- ``SQLiteStorage(path)``: a SQLite file, safe for several processes.
"""

from __future__ import annotations

from .memory import MemoryStorage
from .sqlite import SQLiteStorage
from .storage import CacheEntry, CacheStorage
from .transport import CacheTransport

__all__ = ["CacheEntry", "CacheStorage", "CacheTransport", "MemoryStorage", "SQLiteStorage"]
