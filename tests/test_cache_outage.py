"""A failing cache storage is skipped for a backoff period; the SQLite file is private."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.guard import STORAGE_BACKOFF, Outage
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://api.test/items/1"


def test_outage_is_measured_from_the_failure() -> None:
    outage = Outage(backoff=30.0)
    assert outage.available(0.0)
    assert outage.failed(100.0)  # a failure seen at 100 (after a slow call) opens a period
    assert not outage.available(100.0)
    assert not outage.available(129.9)
    assert not outage.failed(110.0)  # another in the same period: not logged again
    assert not outage.available(139.9)  # ... and it extends the period from that failure
    assert outage.available(140.0)
    assert outage.failed(140.0)  # the next period logs again
    assert outage.failures == 3


def _read_only_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    return directory / "cache.db"


def _unopenable(tmp_path: Path, kind: str) -> Path:
    if kind == "read-only directory":
        if os.geteuid() == 0:
            pytest.skip("root ignores directory permissions; the 'not a directory' case runs")
        return _read_only_directory(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    return blocker / "cache.db"  # its "directory" is a regular file


@pytest.mark.parametrize("kind", ["read-only directory", "not a directory"])
async def test_failing_sqlite_is_skipped_for_a_backoff_and_logged_once(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _unopenable(tmp_path, kind)
    upstream = ScriptedTransport(
        lambda request: httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"x")
    )
    clock = FakeClock()
    storage = SQLiteStorage(path)
    transport = CacheTransport(upstream, CacheConfig(storage=storage), clock=clock)
    caplog.set_level(logging.WARNING, logger="httpx_resilient.cache")
    started = time.perf_counter()
    for _ in range(20):
        response = await transport.handle_async_request(httpx.Request("GET", URL))
        assert (await response.aread()) == b"x"
    elapsed = time.perf_counter() - started
    assert transport.storage_failures == 1  # tried once, then skipped
    assert upstream.calls == 20  # every request still answered, uncached
    assert elapsed < 1.0  # no per-request open attempt (it used to cost ~2 s each)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipping the storage" in warnings[0].getMessage()
    clock.advance(STORAGE_BACKOFF - 1)
    await transport.handle_async_request(httpx.Request("GET", URL))
    assert transport.storage_failures == 1  # still within the period
    clock.advance(1)
    await transport.handle_async_request(httpx.Request("GET", URL))
    assert transport.storage_failures == 2  # tried again after the period, failed again
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    await storage.aclose()


async def test_sqlite_file_is_created_0600_and_its_directory_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "new-dir" / "cache.db"
        storage = SQLiteStorage(path)
        await storage.secret()
        await storage.aclose()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            assert stat.S_IMODE(os.stat(side).st_mode) & 0o077 == 0


async def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    storage = SQLiteStorage(tmp_path / "cache.db")
    await storage.secret()
    await storage.aclose()
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "cache.db").st_mode) == 0o600
