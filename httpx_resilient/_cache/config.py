"""``CacheConfig``: the cache layer's validated, immutable settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._core.credentials import credential_names
from .._core.outcomes import ConfigError
from .._core.validate import MIB, int_at_least, non_negative

__all__ = ["CacheConfig"]


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Private (default) or shared HTTP cache per RFC 9111.

    Attributes:
        storage: a storage object (``MemoryStorage`` by default, built from the bounds
            below), ``SQLiteStorage(path)`` or ``RedisStorage(...)``.
        shared: follow the shared-cache rules (``s-maxage``, ``private``,
            ``Authorization``) instead of the private ones (default False).
        max_entries: entries kept by the default memory storage (default 10,000).
        max_bytes: body bytes kept by the default memory storage (default 256 MiB).
        max_entry_bytes: larger responses are delivered but not stored (default 10 MiB).
        heuristic_fraction: share of ``now - Last-Modified`` used as heuristic
            freshness (default 0.1).
        store_set_cookie: keep ``Set-Cookie`` in stored responses (default False).
        credential_headers: more request header names that carry a credential (default
            none; names containing ``token``, ``key``, ``secret``, ``auth``,
            ``session``, ``signature`` or ``password`` and the usual ones always count):
            responses are kept apart per value, as for ``Authorization``.
    """

    storage: Any = None
    shared: bool = False
    max_entries: int = 10_000
    max_bytes: int = 256 * MIB
    max_entry_bytes: int = 10 * MIB
    heuristic_fraction: float = 0.1
    store_set_cookie: bool = False
    credential_headers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        o = "CacheConfig"
        if not isinstance(self.shared, bool):
            raise ConfigError(f"{o}.shared", "must be a bool")
        int_at_least(o, "max_entries", self.max_entries, 1)
        int_at_least(o, "max_bytes", self.max_bytes, 1)
        int_at_least(o, "max_entry_bytes", self.max_entry_bytes, 0)
        non_negative(o, "heuristic_fraction", self.heuristic_fraction)
        if self.heuristic_fraction > 1:
            raise ConfigError(f"{o}.heuristic_fraction", "must be <= 1")
        if not isinstance(self.store_set_cookie, bool):
            raise ConfigError(f"{o}.store_set_cookie", "must be a bool")
        names = credential_names(o, self.credential_headers)
        object.__setattr__(self, "credential_headers", names)
