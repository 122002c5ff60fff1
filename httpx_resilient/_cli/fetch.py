"""``httpx-resilient fetch``: bulk-fetch URLs through the stack, JSON Lines out.

Settings come from ``EnvironmentConfig.from_environment()`` (``API_RATE_LIMIT``, ...),
and flags override them. One JSON object per URL goes to stdout as it finishes:
``{"url", "status", "elapsed", "attempts", "from_cache", "error"}``; progress goes to
stderr. ``attempts`` counts the attempts that reached the network, for failures too
(a refusal before any attempt reports 0; ``null`` only when no request was built).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import anyio
import httpx

from .. import (
    CacheConfig,
    EnvironmentConfig,
    QueueConfig,
    RateLimitConfig,
    ResilientTransport,
    __version__,
)
from .._core.clock import SYSTEM_CLOCK
from .._network import network_transport
from .progress import Mode, Progress, make_progress

__all__ = ["FetchOptions", "fetch_all", "read_urls", "run_fetch"]

DEFAULT_CONCURRENCY = 10
_ATTEMPTS = "fetch_attempts"


class _CountAttempts(httpx.AsyncBaseTransport):
    """Counts the attempts of each request that reach the network, in the request's
    extensions: a failure that was retried then reports how many were made."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions[_ATTEMPTS] = request.extensions.get(_ATTEMPTS, 0) + 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _attempts_of(exc: Exception) -> int | None:
    """Attempts made for the request that failed with ``exc`` (``None``: no request)."""
    try:
        request = exc.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when unset
        return None
    attempts = request.extensions.get(_ATTEMPTS, 0)
    return attempts if isinstance(attempts, int) else None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchOptions:
    """Flags of ``fetch``; ``None`` leaves the environment's (or default) setting."""

    rate: float | None = None
    concurrency: int | None = None
    retries: int | None = None
    cache: bool = False
    timeout: float | None = None


def read_urls(lines: Iterable[str]) -> list[str]:
    """The URLs of a file: one per line; blank lines and ``#`` comments are skipped."""
    urls = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            urls.append(text)
    return urls


def build_client(options: FetchOptions, env: EnvironmentConfig) -> tuple[httpx.AsyncClient, int]:
    """The client for ``fetch`` and its number of workers; flags win over ``env``.

    Raises:
        ConfigError: a flag's value is out of range (``field`` names the config field).
    """
    rate_limit = env.rate_limit
    if options.rate is not None:
        rate_limit = RateLimitConfig(max_requests=options.rate, window_seconds=1.0)
    queue = env.queue
    if options.concurrency is not None:
        base = queue if queue is not None else QueueConfig()
        queue = dataclasses.replace(base, max_concurrency=options.concurrency)
    retry = env.retry_config
    if options.retries is not None:
        retry = dataclasses.replace(retry, max_retries=options.retries)
    timeout: httpx.Timeout = env.timeout_config.to_httpx()
    if options.timeout is not None:
        timeout = httpx.Timeout(options.timeout)
    transport = ResilientTransport(
        rate_limit=rate_limit,
        circuit_breaker=env.circuit_breaker,
        retry=retry,
        cache=CacheConfig() if options.cache else None,
        dedup=True,
        queue=queue,
        inner=_CountAttempts(network_transport()),
    )
    client = httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=True,
        headers={"user-agent": f"httpx-resilient/{__version__}"},
    )
    workers = options.concurrency or (queue.max_concurrency if queue else DEFAULT_CONCURRENCY)
    return client, workers


async def _fetch_one(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "url": url,
        "status": None,
        "elapsed": 0.0,
        "attempts": None,
        "from_cache": False,
        "error": None,
    }
    began = SYSTEM_CLOCK.now()
    try:
        async with client.stream("GET", url) as response:
            record["status"] = response.status_code
            record["attempts"] = response.extensions.get("attempts", 1)
            record["from_cache"] = bool(response.extensions.get("from_cache", False))
            async for _ in response.aiter_raw():  # read and drop: memory stays bounded
                pass
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        record["attempts"] = _attempts_of(exc)
    record["elapsed"] = round(SYSTEM_CLOCK.now() - began, 4)
    return record


async def fetch_all(
    client: httpx.AsyncClient, urls: Sequence[str], *, workers: int, out: TextIO, progress: Progress
) -> int:
    """Fetch ``urls`` with ``workers`` tasks, writing one JSON line each as it finishes.

    Returns:
        How many URLs failed (an error, or a status >= 400).
    """
    pending = iter(urls)
    failed = 0
    progress.start("fetch", len(urls))

    async def worker() -> None:
        nonlocal failed
        for url in pending:
            record = await _fetch_one(client, url)
            ok = record["error"] is None and record["status"] < 400
            failed += not ok
            out.write(json.dumps(record) + "\n")
            out.flush()
            progress.advance(ok)

    async with client, anyio.create_task_group() as tg:
        for _ in range(max(1, min(workers, len(urls)))):
            tg.start_soon(worker)
    progress.finish()
    return failed


def run_fetch(
    urls: Sequence[str],
    options: FetchOptions,
    env: EnvironmentConfig,
    *,
    backend: str,
    progress: Mode,
    out: TextIO,
    err: TextIO,
) -> int:
    """Fetch every URL; exit status 0 when all succeeded, 1 otherwise."""
    display = make_progress(progress, err)

    async def main() -> int:
        client, workers = build_client(options, env)  # in the loop: layers make primitives
        return await fetch_all(client, urls, workers=workers, out=out, progress=display)

    try:
        failed = anyio.run(main, backend=backend)
    finally:
        display.close()
    return 1 if failed else 0
