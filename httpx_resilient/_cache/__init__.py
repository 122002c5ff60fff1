"""HTTP cache layer (RFC 9111): ``CacheTransport`` and its storages.

- ``transport.CacheTransport(inner, config, *, clock=None)``: the transport.
- ``storage.CacheStorage``: the async protocol a storage implements; ``CacheEntry`` its
  record.
- ``memory.MemoryStorage``: in-process LRU bounded by entries and bytes (the default).
- ``sqlite.SQLiteStorage(path)``: a SQLite file, safe for several processes.

Import from the modules: this package imports none of them, so that the httpx2 face can
use the shared ones (config, storages) without importing httpx.
"""
