"""Cache storages: the shared contract (memory and SQLite), bounds, and SQLite specifics."""

from __future__ import annotations

import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest

from httpx_resilient._cache.keys import primary_key, url_key, url_text, variant_key
from httpx_resilient._cache.memory import MemoryStorage
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.storage import ENTRY_OVERHEAD, CacheEntry, CacheStorage
from httpx_resilient._core.errors import ConfigError

pytestmark = pytest.mark.anyio


def entry(
    key: str = "k",
    variant: str = "",
    *,
    url: str = "u",
    body: bytes = b"body",
    time: float = 1.0,
    headers: tuple[tuple[bytes, bytes], ...] = ((b"Content-Type", b"text/plain"),),
) -> CacheEntry:
    return CacheEntry(
        key=key,
        variant=variant,
        url_key=url,
        vary=("accept",) if variant else (),
        status=200,
        headers=headers,
        body=body,
        request_time=time,
        response_time=time,
    )


Factory = Callable[..., CacheStorage]


@pytest.fixture(params=["memory", "sqlite"])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    made: list[CacheStorage] = []

    def factory(**bounds: int) -> CacheStorage:
        storage: CacheStorage
        if request.param == "memory":
            storage = MemoryStorage(**bounds)
        else:
            storage = SQLiteStorage(tmp_path / f"cache{len(made)}.db", **bounds)
        made.append(storage)
        return storage

    yield factory
    for storage in made:
        await storage.aclose()


async def test_put_get_replace_and_variants(make: Factory) -> None:
    storage = make()
    assert list(await storage.get("k")) == []
    await storage.put(entry(body=b"one"))
    await storage.put(entry(body=b"two"))  # same key and variant: replaced
    await storage.put(entry(variant="v2", body=b"three"))
    got = sorted(e.body for e in await storage.get("k"))
    assert got == [b"three", b"two"]
    [e2] = [e for e in await storage.get("k") if e.variant == "v2"]
    assert e2.vary == ("accept",)
    assert e2.headers == ((b"Content-Type", b"text/plain"),)
    await storage.delete("k", "v2")
    assert [e.body for e in await storage.get("k")] == [b"two"]


async def test_invalidate_removes_every_entry_of_a_url(make: Factory) -> None:
    storage = make()
    await storage.put(entry("get-anon", url="u1"))
    await storage.put(entry("get-alice", url="u1"))
    await storage.put(entry("head-anon", "v", url="u1"))
    await storage.put(entry("other", url="u2"))
    await storage.invalidate("u1")
    for key in ("get-anon", "get-alice", "head-anon"):
        assert list(await storage.get(key)) == []
    assert len(await storage.get("other")) == 1
    await storage.clear()
    assert list(await storage.get("other")) == []


async def test_bounded_by_entries_least_recently_used_first(make: Factory) -> None:
    storage = make(max_entries=3)
    for name in ("a", "b", "c"):
        await storage.put(entry(name))
    await storage.get("a")  # a becomes the most recently used
    await storage.put(entry("d"))
    assert list(await storage.get("b")) == []
    for name in ("a", "c", "d"):
        assert len(await storage.get(name)) == 1


async def test_bounded_by_bytes(make: Factory) -> None:
    one = entry(body=b"x" * 1000).size
    storage = make(max_bytes=one * 2 + 10)
    for name in ("a", "b", "c"):
        await storage.put(entry(name, body=b"x" * 1000))
    assert list(await storage.get("a")) == []
    assert len(await storage.get("b")) == 1
    assert len(await storage.get("c")) == 1


async def test_entry_larger_than_the_bound_is_not_kept(make: Factory) -> None:
    storage = make(max_bytes=ENTRY_OVERHEAD + 100)
    await storage.put(entry("small", body=b"s"))
    await storage.put(entry("small", body=b"y" * 500))  # replaces, but too large: gone
    await storage.put(entry("big", body=b"y" * 500))
    assert list(await storage.get("big")) == []
    assert list(await storage.get("small")) == []


async def test_bad_bounds_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MemoryStorage.max_entries"):
        MemoryStorage(max_entries=0)
    with pytest.raises(ConfigError, match="MemoryStorage.max_bytes"):
        MemoryStorage(max_bytes=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="SQLiteStorage.max_entries"):
        SQLiteStorage(tmp_path / "x.db", max_entries=-1)
    with pytest.raises(ConfigError, match="SQLiteStorage.busy_timeout"):
        SQLiteStorage(tmp_path / "x.db", busy_timeout=-1)


async def test_memory_get_result_survives_later_writes() -> None:
    storage = MemoryStorage()
    await storage.put(entry(body=b"one"))
    seen = await storage.get("k")
    await storage.put(entry(body=b"two"))
    await storage.invalidate("u")
    assert [e.body for e in seen] == [b"one"]
    assert len(storage) == 0
    assert storage.size == 0


async def test_memory_accounting_stays_exact() -> None:
    storage = MemoryStorage(max_entries=5)
    for i in range(20):
        await storage.put(entry(f"k{i % 7}", "v" if i % 2 else "", url=f"u{i % 3}"))
        await storage.delete(f"k{(i + 3) % 7}", "")
    assert len(storage) == len(storage.entries()) <= 5
    assert storage.size == sum(e.size for e in storage.entries())
    await storage.invalidate("u0")
    await storage.invalidate("u1")
    await storage.invalidate("u2")
    assert len(storage) == 0
    assert storage.size == 0


def test_storages_implement_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryStorage(), CacheStorage)
    assert isinstance(SQLiteStorage(tmp_path / "p.db"), CacheStorage)


async def test_sqlite_wal_secret_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with SQLiteStorage(path) as first:
        secret = await first.secret()
        assert len(secret) == 32
        await first.put(entry(body=b"persisted"))
    # Reopened by another storage object (another process would see the same).
    second = SQLiteStorage(path)
    assert await second.secret() == secret
    assert [e.body for e in await second.get("k")] == [b"persisted"]
    await second.aclose()
    await second.aclose()  # idempotent
    assert await second.count() == 1  # reopens on use
    await second.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sqlite_two_connections_share_entries(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    a, b = SQLiteStorage(path), SQLiteStorage(path)
    async with a, b, anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(a.put, entry(f"a{i}"))
            tg.start_soon(b.put, entry(f"b{i}"))
    async with a, b:
        assert await a.secret() == await b.secret()
        assert await a.count() == 40
        assert len(await b.get("a7")) == 1


async def test_sqlite_cancelled_put_leaves_no_half_entry(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "cancel.db")
    await storage.secret()
    body = b"z" * 200_000
    for _ in range(5):
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled before and while the put runs
            await storage.put(entry(body=body))
        async with anyio.create_task_group() as tg:
            tg.start_soon(storage.put, entry("k2", body=body))
            await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
    for key in ("k", "k2"):
        for e in await storage.get(key):
            assert e.body == body  # present and whole, or absent
    await storage.aclose()


async def test_keys_never_contain_url_or_credentials() -> None:
    secret = b"s" * 32
    request = httpx.Request(
        "GET",
        "https://api.test/users/1?token=abc#frag",
        headers={"Authorization": "Bearer sekrit", "Accept": "text/html"},
    )
    key = primary_key(secret, "GET", request.url, request.headers, True)
    anonymous = primary_key(secret, "GET", request.url, httpx.Headers(), False)
    assert key != anonymous
    assert "sekrit" not in key
    assert "abc" not in key
    assert url_text(request.url) == "https://api.test/users/1?token=abc"
    assert url_key(secret, request.url) != url_key(b"t" * 32, request.url)
    vary = variant_key(secret, request.headers, ("authorization",))
    assert "sekrit" not in vary
    assert vary != variant_key(
        secret, httpx.Headers({"Authorization": "Bearer x"}), ("authorization",)
    )
    assert variant_key(secret, request.headers, ()) == ""
    absent = variant_key(secret, httpx.Headers(), ("accept-language",))
    empty = variant_key(secret, httpx.Headers({"Accept-Language": ""}), ("accept-language",))
    assert absent != empty
    spaced = variant_key(secret, httpx.Headers({"Accept": " text/html"}), ("accept",))
    assert spaced == variant_key(secret, request.headers, ("accept",))


WRITER = textwrap.dedent(
    """
    import sys, anyio, httpx
    from httpx_resilient._cache.sqlite import SQLiteStorage
    from httpx_resilient._cache.transport import CacheTransport
    from httpx_resilient._cache.config import CacheConfig

    async def main():
        storage = SQLiteStorage(sys.argv[1])
        def answer(request):
            who = request.headers.get("authorization", "anonymous")
            body = "alice's data" if who == "Bearer alice-token" else "not alice"
            return httpx.Response(200, headers={"Cache-Control": "max-age=3600"}, content=body)
        transport = CacheTransport(httpx.MockTransport(answer), CacheConfig(storage=storage))
        async with httpx.AsyncClient(transport=transport) as client:
            alice = {"Authorization": "Bearer alice-token"}
            r = await client.get("http://api.test/me", headers=alice)
            assert r.text == "alice's data"
        await storage.aclose()

    anyio.run(main)
    """
)


async def test_sqlite_shared_between_processes(tmp_path: Path) -> None:
    from httpx_resilient._cache.config import CacheConfig
    from httpx_resilient._cache.transport import CacheTransport

    path = tmp_path / "multi.db"
    result = await anyio.run_process([sys.executable, "-c", WRITER, str(path)], check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert b"alice-token" not in path.read_bytes()  # only keyed hashes reach the file

    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("authorization", "anonymous"))
        return httpx.Response(200, headers={"Cache-Control": "max-age=3600"}, content=b"fresh")

    storage = SQLiteStorage(path)
    transport = CacheTransport(httpx.MockTransport(answer), CacheConfig(storage=storage))
    async with httpx.AsyncClient(transport=transport) as client:
        hit = await client.get(
            "http://api.test/me", headers={"Authorization": "Bearer alice-token"}
        )
        other = await client.get(
            "http://api.test/me", headers={"Authorization": "Bearer bob-token"}
        )
    await storage.aclose()
    assert hit.extensions["from_cache"] is True
    assert hit.text == "alice's data"  # written by the other process, found with its key
    assert other.text == "fresh"
    assert calls == ["Bearer bob-token"]
