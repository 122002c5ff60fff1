"""``SQLiteStorage``: cache entries in a SQLite file, shared safely by several processes.

Every call runs the stdlib ``sqlite3`` module in a worker thread
(``anyio.to_thread.run_sync``), so the event loop never blocks on disk; one connection
per storage, serialised by a thread lock held only inside the worker. The database is
in WAL mode with a busy timeout, so readers and writers in other processes proceed
concurrently. Each write is one transaction: a cancelled caller waits for it to finish
(worker threads are not abandoned), so no half-written entry is ever visible.

The hashing secret lives in the database (created once, atomically), so every process
using the file computes the same keys; no credential is ever written, only keyed hashes.
The file holds authenticated bodies, so it is created 0600 (its directory 0700 when
this module creates it; SQLite gives its ``-wal`` / ``-shm`` files the same mode). A
file that cannot be opened for writing fails at once, not after retries; the transport
then skips the storage for a backoff period (``guard``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio.to_thread

from .._core.outcomes import ConfigError
from .._core.validate import MIB
from .storage import CacheEntry

__all__ = ["SQLiteStorage"]

T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS httpx_resilient_meta (name TEXT PRIMARY KEY, value BLOB)",
    "CREATE TABLE IF NOT EXISTS httpx_resilient_cache ("
    " key TEXT NOT NULL, variant TEXT NOT NULL, url_key TEXT NOT NULL, vary TEXT NOT NULL,"
    " status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,"
    " request_time REAL NOT NULL, response_time REAL NOT NULL, size INTEGER NOT NULL,"
    " accessed INTEGER NOT NULL, PRIMARY KEY (key, variant))",
    "CREATE INDEX IF NOT EXISTS httpx_resilient_cache_url ON httpx_resilient_cache (url_key)",
    "CREATE INDEX IF NOT EXISTS httpx_resilient_cache_lru ON httpx_resilient_cache (accessed)",
)
# LRU order: "accessed" takes the next value of a counter kept in the table itself, so
# every process agrees on it without reading any clock.
_TOUCH = (
    "UPDATE httpx_resilient_cache"
    " SET accessed = (SELECT COALESCE(MAX(accessed), 0) + 1 FROM httpx_resilient_cache)"
    " WHERE key = ?"
)
_INSERT = (
    "INSERT INTO httpx_resilient_cache (key, variant, url_key, vary, status, headers, body,"
    " request_time, response_time, size, accessed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " (SELECT COALESCE(MAX(accessed), 0) + 1 FROM httpx_resilient_cache))"
)
_WAL_ATTEMPTS = 200


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"SQLiteStorage.{name}", f"must be an integer >= 1, got {value!r}")
    return value


def _encode_headers(headers: tuple[tuple[bytes, bytes], ...]) -> str:
    return json.dumps([[n.decode("latin-1"), v.decode("latin-1")] for n, v in headers])


def _decode_headers(text: str) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in json.loads(text))


def _try_wal(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return False  # another process is switching too: try again
        raise  # read-only, missing, corrupt: retrying cannot help (fail fast)
    return True


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (0600), and its directory
    (0700) if missing. An existing file or directory keeps its mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class SQLiteStorage:
    """Cache entries in a SQLite file; bounded, safe for several processes.

    Args:
        path: the database file (created if missing).
        max_entries: most entries kept (default 10,000).
        max_bytes: most bytes kept (bodies plus headers plus overhead; default 256 MiB).
        busy_timeout: seconds to wait for another process's lock (default 5).

    Close it with ``aclose()`` (or ``async with``); it reopens on next use.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_entries: int = 10_000,
        max_bytes: int = 256 * MIB,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self.max_entries = _positive_int("max_entries", max_entries)
        self.max_bytes = _positive_int("max_bytes", max_bytes)
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)):
            raise ConfigError("SQLiteStorage.busy_timeout", "must be a number of seconds")
        if not busy_timeout >= 0:
            raise ConfigError("SQLiteStorage.busy_timeout", "must be >= 0")
        self.busy_timeout = float(busy_timeout)
        self._conn: sqlite3.Connection | None = None
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    async def __aenter__(self) -> SQLiteStorage:
        await self.secret()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._locked, operation)

    def _locked(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._conn if self._conn is not None else self._open()
            return operation(conn)

    def _open(self) -> sqlite3.Connection:
        _create_private(self.path)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO httpx_resilient_meta (name, value) VALUES ('secret', ?)",
                    (os.urandom(32),),
                )
                row = conn.execute(
                    "SELECT value FROM httpx_resilient_meta WHERE name = 'secret'"
                ).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            raise
        self._secret = bytes(row[0])
        self._conn = conn
        return conn

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> None:
        # Switching to WAL needs a lock that processes opening a new file at once
        # fight over, and SQLite reports that at once rather than after busy_timeout.
        pause = threading.Event()  # a short wait in this worker thread, not the loop
        for _ in range(_WAL_ATTEMPTS - 1):
            if _try_wal(conn):
                return
            pause.wait(0.01)
        conn.execute("PRAGMA journal_mode=WAL")

    async def secret(self) -> bytes:
        if self._secret is None:
            await self._run(lambda conn: None)
        assert self._secret is not None
        return self._secret

    async def get(self, key: str) -> Sequence[CacheEntry]:
        def operation(conn: sqlite3.Connection) -> list[CacheEntry]:
            rows = conn.execute(
                "SELECT key, variant, url_key, vary, status, headers, body, request_time,"
                " response_time FROM httpx_resilient_cache WHERE key = ?",
                (key,),
            ).fetchall()
            if rows:
                conn.execute(_TOUCH, (key,))
            return [
                CacheEntry(
                    key=row[0],
                    variant=row[1],
                    url_key=row[2],
                    vary=tuple(row[3].split(",")) if row[3] else (),
                    status=row[4],
                    headers=_decode_headers(row[5]),
                    body=bytes(row[6]),
                    request_time=row[7],
                    response_time=row[8],
                )
                for row in rows
            ]

        return await self._run(operation)

    async def put(self, entry: CacheEntry) -> None:
        values = (
            entry.key,
            entry.variant,
            entry.url_key,
            ",".join(entry.vary),
            entry.status,
            _encode_headers(entry.headers),
            entry.body,
            entry.request_time,
            entry.response_time,
            entry.size,
        )
        too_large = entry.size > self.max_bytes

        def operation(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "DELETE FROM httpx_resilient_cache WHERE key = ? AND variant = ?",
                    (entry.key, entry.variant),
                )
                if not too_large:
                    conn.execute(_INSERT, values)
                    self._evict(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(operation)

    def _evict(self, conn: sqlite3.Connection) -> None:
        count, total = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM httpx_resilient_cache"
        ).fetchone()
        if count <= self.max_entries and total <= self.max_bytes:
            return
        doomed: list[int] = []
        for rowid, size in conn.execute(
            "SELECT rowid, size FROM httpx_resilient_cache ORDER BY accessed"
        ):
            if count <= self.max_entries and total <= self.max_bytes:
                break
            doomed.append(rowid)
            count -= 1
            total -= size
        conn.executemany(
            "DELETE FROM httpx_resilient_cache WHERE rowid = ?", [(rowid,) for rowid in doomed]
        )

    async def delete(self, key: str, variant: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "DELETE FROM httpx_resilient_cache WHERE key = ? AND variant = ?", (key, variant)
            )
        )

    async def invalidate(self, url_key: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "DELETE FROM httpx_resilient_cache WHERE url_key = ?", (url_key,)
            )
        )

    async def clear(self) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM httpx_resilient_cache"))

    async def count(self) -> int:
        """How many entries the file holds (for inspection and tests)."""

        def operation(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM httpx_resilient_cache").fetchone()[0])

        return await self._run(operation)

    async def aclose(self) -> None:
        def close() -> None:
            with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()

        await anyio.to_thread.run_sync(close)

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.path!r}, max_entries={self.max_entries})"
