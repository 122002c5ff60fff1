"""The original design's headline example against a real loopback server.

``gather`` of 1,000 ``client.get()`` with the README's exact configuration and no
explicit queue: the facade's default queue (ceiling = the pool's 100 connections) and
pool-less default timeout keep every request out of httpx's pool timeout, so nothing
fails, the breaker never opens on congestion the client caused, and a priority
request afterwards succeeds.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import anyio
import httpx
import pytest

from httpx_resilient import (
    CircuitBreakerConfig,
    CircuitState,
    RateLimitConfig,
    RateLimitedAPIClient,
    RetryConfig,
)

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


SERVER = r"""
import asyncio, sys

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


class FastServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with 200 and
    its path: one asyncio loop in a child process, so that 1,000 requests measure the
    client (a server thread in the test process would share its GIL)."""

    def __enter__(self) -> FastServer:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # the server exits when its stdin ends
        self.process.wait(5)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture(scope="module")
def fast_server() -> Iterator[FastServer]:
    with FastServer() as server:
        yield server


async def gather(client: RateLimitedAPIClient, n: int, backend: str) -> list[object]:
    """``asyncio.gather`` as the design wrote it; a task group under trio."""
    if backend == "asyncio":
        return list(
            await asyncio.gather(
                *[client.get(f"/items/{i}") for i in range(n)], return_exceptions=True
            )
        )
    results: list[object] = []

    async def one(i: int) -> None:
        try:
            results.append(await client.get(f"/items/{i}"))
        except httpx.HTTPError as exc:
            results.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return results


async def test_headline_gather_of_1000_against_a_real_server(
    fast_server: FastServer, anyio_backend: str
) -> None:
    client = RateLimitedAPIClient(
        base_url=fast_server.url,
        rate_limit=RateLimitConfig(max_requests=1000, window_seconds=60),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5),
        retry_config=RetryConfig(max_retries=3, base_delay=1.0),
    )
    with anyio.fail_after(50):
        async with client:
            results = await gather(client, 1000, anyio_backend)
            errors = [r for r in results if not isinstance(r, httpx.Response)]
            assert errors == []
            assert all(r.status_code == 200 for r in results if isinstance(r, httpx.Response))
            critical = await client.get("/critical-data", priority=10)
            assert critical.text == "/critical-data"
            metrics = client.get_metrics()
    assert metrics.failed_requests == 0
    assert metrics.rejected_requests == 0
    assert metrics.circuit_breaker_opens == 0
    assert set(metrics.circuit_states.values()) <= {CircuitState.CLOSED}
