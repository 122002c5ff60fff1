"""Loopback HTTP/1.1 servers for the load benchmark, run as child processes.

Run: ``python -m benchmarks.servers {delay,grows} PORT [--base-ms 50] [--per-request-ms 0]``.

A raw ``asyncio.Protocol`` (no framework): keep-alive, GET/HEAD only, a 13-byte body.
``delay`` answers every request after ``--base-ms``; ``grows`` after
``base + per_request * (requests in progress)`` ms, a server whose latency grows with
its concurrency. On exit (SIGTERM) it prints its CPU seconds and requests served, so the
benchmark can check that it was not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

BODY = b"hello, world\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY
)


class Server:
    """Counts requests in progress and served."""

    def __init__(self, base: float, per_request: float) -> None:
        self.base = base
        self.per_request = per_request
        self.active = 0
        self.served = 0

    def delay(self) -> float:
        return self.base + self.per_request * self.active


class Protocol(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        loop = asyncio.get_running_loop()
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            server = self.server
            server.active += 1
            loop.call_later(server.delay(), self.respond)

    def respond(self) -> None:
        self.server.active -= 1
        self.server.served += 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, server: Server) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    listener = await loop.create_server(
        lambda: Protocol(server), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    async with listener:
        await stop.wait()
    cpu = os.times()
    print(f"cpu={cpu.user + cpu.system:.3f} served={server.served}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["delay", "grows"])
    parser.add_argument("port", type=int)
    parser.add_argument("--base-ms", type=float, default=50.0)
    parser.add_argument("--per-request-ms", type=float, default=0.0)
    args = parser.parse_args()
    per = args.per_request_ms / 1000 if args.mode == "grows" else 0.0
    asyncio.run(serve(args.port, Server(args.base_ms / 1000, per)))


if __name__ == "__main__":
    main()
