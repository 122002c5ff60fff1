"""Loopback throughput: bare httpx vs ResilientTransport with a bounded queue, 64 in flight.

Run: ``python benchmarks/throughput.py [--backend asyncio|trio] [--inflight 64]
[--limits 4,8,16,32,64] [--requests 3000] [--rounds 5] [--max-seconds 300] [--httpx2]``.

Starts nginx (``apt-get install nginx``) on a free loopback port serving a 13-byte static
file, pinned with ``taskset`` to the last CPU while this client pins itself to the
first, so the server is not the bottleneck (or use ``--url`` for a server of your own).
Every variant sends ``--requests`` GETs from ``--inflight`` tasks sharing one client;
rounds are interleaved and the figures are medians of requests per second and of the
client's CPU time per request (steadier than req/s on a busy machine, and what the
client's connection pool costs). The run stops after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

if "--httpx2" in sys.argv:  # must alias before anything imports httpx
    import httpx2

    httpx2.alias_httpx()

import anyio
import httpx

from httpx_resilient import QueueConfig, ResilientTransport

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {dir}/www; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nginx() -> Iterator[str]:
    """Run nginx on a free loopback port, pinned to the last CPU; yield its URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx not found: apt-get install -y nginx, or pass --url")
    cpus = sorted(os.sched_getaffinity(0))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as folder:
        Path(folder).chmod(0o755)  # nginx workers drop privileges and must read it
        (Path(folder) / "www").mkdir()
        (Path(folder) / "www" / "index.html").write_text("hello, world\n")
        conf = Path(folder) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=folder, port=port))
        command = [binary, "-p", folder, "-c", str(conf), "-e", f"{folder}/error.log"]
        if len(cpus) > 1 and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpus[-1]), *command]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError as exc:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"nginx did not start: {exc}") from exc
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/index.html"
        finally:
            server.terminate()
            server.wait(timeout=10)


Variant = Callable[[int], Awaitable[tuple[float, float]]]


def variant(client: httpx.AsyncClient, url: str, inflight: int) -> Variant:
    """Send ``n`` GETs from ``inflight`` tasks; return req/s and client CPU us per request."""

    async def go(n: int) -> tuple[float, float]:
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

        start, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(inflight):
                tg.start_soon(worker)
        return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6

    return go


async def main(args: argparse.Namespace, url: str) -> None:
    clients: dict[str, httpx.AsyncClient] = {
        "bare httpx, 1 in flight": httpx.AsyncClient(),
        f"bare httpx, {args.inflight} in flight": httpx.AsyncClient(),
    }
    for n in args.limits:
        transport = ResilientTransport(queue=QueueConfig(max_concurrency=n))
        clients[f"queue max_concurrency={n}"] = httpx.AsyncClient(transport=transport)
    variants = {
        name: variant(client, url, 1 if "1 in flight" in name else args.inflight)
        for name, client in clients.items()
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    started = time.monotonic()
    try:
        for run in variants.values():  # warm-up: open connections, fill pools
            await run(max(200, args.inflight * 4))
        for _ in range(args.rounds):
            if time.monotonic() - started > args.max_seconds:
                print(f"(stopped early after {args.max_seconds} s)")
                break
            for name, run in variants.items():
                count = args.requests // 3 if "1 in flight" in name else args.requests
                results[name].append(await run(count))
    finally:
        for client in clients.values():
            await client.aclose()
    bare = results[f"bare httpx, {args.inflight} in flight"]
    base = statistics.median(rate for rate, _ in bare)
    name = httpx.__name__
    print(f"Loopback throughput ({args.backend}, {name} {httpx.__version__}, {url})")
    print(f"{'variant':<32}{'req/s':>8}{'vs bare':>9}{'CPU us/req':>12}   req/s per round")
    for label, values in results.items():
        rate = statistics.median(r for r, _ in values)
        cpu = statistics.median(c for _, c in values)
        rounds = " ".join(f"{r:.0f}" for r, _ in values)
        print(f"{label:<32}{rate:>8.0f}{rate / base:>9.2f}{cpu:>12.0f}   {rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--limits", default="4,8,16,32,64")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--url", default=None, help="use this server instead of nginx")
    parser.add_argument("--httpx2", action="store_true", help="run with httpx2 aliased as httpx")
    arguments = parser.parse_args()
    arguments.limits = [int(x) for x in arguments.limits.split(",")]
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})  # the server gets the other CPU
    if arguments.url:
        anyio.run(main, arguments, arguments.url, backend=arguments.backend)
    else:
        with nginx() as server_url:
            anyio.run(main, arguments, server_url, backend=arguments.backend)
