"""What a frozen Redis costs: sequential requests through a Redis-backed stack.

Run: ``.venv/bin/python benchmarks/redis_outage.py [--freeze 12]``.

Starts a ``redis-server`` of its own on a free port (never the shared one), sends
requests one after another through a rate limiter, a breaker and a cache that all use
one ``RedisBackend`` (default timeouts: 1 s operation timeout, 5 s backoff), freezes the
server with SIGSTOP for ``--freeze`` seconds, resumes it with SIGCONT and reports: the
requests that stalled (when, and for how long), the latency of the others, and how long
after SIGCONT the backend used Redis again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
import warnings

import anyio
import httpx

from httpx_resilient import (
    CacheConfig,
    CircuitBreakerConfig,
    RateLimitConfig,
    RedisBackend,
    RedisStorage,
    ResilientTransport,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def run(port: int, pid: int, freeze: float) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
    transport = ResilientTransport(
        rate_limit=RateLimitConfig(10_000, 1.0, backend=backend),
        circuit_breaker=CircuitBreakerConfig(backend=backend),
        cache=CacheConfig(storage=RedisStorage(backend)),
        inner=httpx.MockTransport(lambda request: httpx.Response(200)),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(20):
            await client.get("http://a.test/")
        os.kill(pid, signal.SIGSTOP)
        start = time.perf_counter()
        latencies: list[tuple[float, float]] = []
        while time.perf_counter() - start < freeze:
            sent = time.perf_counter()
            await client.get("http://a.test/")
            latencies.append((sent - start, time.perf_counter() - sent))
            await anyio.sleep(0.01)
        os.kill(pid, signal.SIGCONT)
        resumed = time.perf_counter()
        while not backend.statistics().available:
            await client.get("http://a.test/")
            await anyio.sleep(0.01)
        recovery = time.perf_counter() - resumed
    slow = [(at, took) for at, took in latencies if took > 0.05]
    fast = sorted(took for _, took in latencies if took <= 0.05) or [0.0]
    print(f"frozen {freeze:g} s: {len(latencies)} sequential requests")
    print("stalled (sent at s: took s): " + ", ".join(f"{a:.2f}: {t:.3f}" for a, t in slow))
    print(
        f"the others: median {statistics.median(fast) * 1e3:.2f} ms, "
        f"p99 {fast[int(len(fast) * 0.99)] * 1e3:.2f} ms"
    )
    print(f"Redis used again {recovery:.2f} s after SIGCONT; {backend.statistics()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--freeze", type=float, default=12.0)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    warnings.simplefilter("ignore", ResourceWarning)  # coredis's failed connections
    port = free_port()
    server = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*server, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        while not ping(port):
            time.sleep(0.02)
        anyio.run(run, port, process.pid, args.freeze)
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
