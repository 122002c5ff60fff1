"""Servers and clients for the load benchmark (``throughput.py``).

Servers run as child processes pinned to the last CPU (the client pins itself to the
first): nginx with ``benchmarks/nginx.conf``, and ``benchmarks/servers.py`` for a fixed
delay or a latency that grows with concurrency.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from httpx_resilient import QueueConfig, RateLimitedAPIClient, ResilientTransport

HERE = Path(__file__).resolve().parent
FIXED = (4, 8, 16, 100)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pinned(command: list[str]) -> list[str]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpus[-1]), *command]
    return command


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {exc}") from exc
            time.sleep(0.05)


@dataclass
class Server:
    """A running server: its URL, and after it stopped, its own report (CPU, served)."""

    url: str
    report: list[str] = field(default_factory=list)


@contextmanager
def nginx() -> Iterator[Server]:
    """nginx (``apt-get install -y nginx``) on a free port, as a non-daemon child."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx not found: apt-get install -y nginx")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as folder:
        Path(folder).chmod(0o755)  # nginx workers drop privileges and must read it
        (Path(folder) / "www").mkdir()
        (Path(folder) / "www" / "index.html").write_text("hello, world\n")
        conf = Path(folder) / "nginx.conf"
        conf.write_text((HERE / "nginx.conf").read_text().format(dir=folder, port=port))
        command = [binary, "-p", folder, "-c", str(conf), "-e", f"{folder}/error.log"]
        process = subprocess.Popen(
            _pinned(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _wait_for(port, process)
            yield Server(f"http://127.0.0.1:{port}/index.html")
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def python_server(mode: str, *options: str) -> Iterator[Server]:
    """``benchmarks/servers.py`` in ``mode`` on a free port; its CPU use is reported."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.servers", mode, str(port), *options]
    process = subprocess.Popen(
        _pinned(command), cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    server = Server(f"http://127.0.0.1:{port}/")
    started = time.monotonic()
    try:
        _wait_for(port, process)
        yield server
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
        wall = time.monotonic() - started
        line = out.decode().strip()
        if line.startswith("cpu="):
            cpu = float(line.split()[0][4:])
            server.report.append(f"server busy {100 * cpu / wall:.0f}% of one CPU ({line})")


class Timing(httpx.AsyncBaseTransport):
    """Records the time each request spends below the client's queue (to headers)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.samples: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        self.samples.append(time.perf_counter() - start)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_clients(url: str, backend: str, timed: bool) -> dict[str, tuple[Any, Timing | None]]:
    """Every variant's client (an httpx-like ``AsyncClient`` or an aiohttp session) and,
    with ``timed``, the layer that measures latency below its queue."""
    no_pool_bound = httpx.Timeout(10.0, pool=None)

    def inner() -> tuple[httpx.AsyncBaseTransport, Timing | None]:
        transport = httpx.AsyncHTTPTransport()
        if not timed:
            return transport, None
        timing = Timing(transport)
        return timing, timing

    clients: dict[str, tuple[Any, Timing | None]] = {}
    transport, timing = inner()
    clients["bare httpx"] = (httpx.AsyncClient(transport=transport, timeout=no_pool_bound), timing)
    try:
        import httpx2

        if httpx2.AsyncClient is not httpx.AsyncClient:
            clients["bare httpx2"] = (
                httpx2.AsyncClient(timeout=httpx2.Timeout(10, pool=None)),
                None,
            )
    except ImportError:
        pass
    for n in FIXED:
        transport, timing = inner()
        stack = ResilientTransport(
            queue=QueueConfig(max_concurrency=n, adaptive=False), inner=transport
        )
        clients[f"fixed {n}"] = (httpx.AsyncClient(transport=stack, timeout=no_pool_bound), timing)
    transport, timing = inner()
    stack = ResilientTransport(queue=QueueConfig(), inner=transport)
    clients["adaptive"] = (httpx.AsyncClient(transport=stack, timeout=no_pool_bound), timing)
    transport, timing = inner()
    facade = RateLimitedAPIClient(
        url, queue=QueueConfig(), timeout=no_pool_bound, transport=transport
    )
    clients["facade defaults"] = (facade, timing)
    if backend == "asyncio":
        import aiohttp

        clients["aiohttp"] = (aiohttp.ClientSession(), None)
    return clients


async def fetch(client: Any, url: str) -> None:
    """One GET, body read, status checked."""
    if isinstance(client, httpx.AsyncClient) or hasattr(client, "build_request"):
        response = await client.get(url)
        status = response.status_code
    else:  # aiohttp
        async with client.get(url) as reply:
            await reply.read()
            status = reply.status
    if status != 200:
        raise RuntimeError(f"{url}: HTTP {status}")


async def close(client: Any) -> None:
    if hasattr(client, "aclose"):
        await client.aclose()
    else:
        await client.close()


def queue_limit(client: Any) -> int | None:
    """The queue's limit in force, for clients that have one."""
    transport = getattr(client, "_transport", None)
    get = getattr(transport, "get_metrics", None) or getattr(client, "get_metrics", None)
    if get is None:
        return None
    limit = get().concurrency_limit
    return int(limit) if limit else None
