"""A raw loopback socket server for misbehaving peers: it writes scripted bytes slowly.

``async with trickle_server(reply) as url:`` serves every connection with
``reply(n)`` (``n`` counts connections from 0): a list of ``(delay, data)`` steps, each
written ``delay`` seconds after the previous one. It runs in the test's own event loop
(anyio), so it works under asyncio and trio alike, and is cancelled when the block ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.abc import SocketAttribute, SocketStream

Steps = Sequence[tuple[float, bytes]]


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def head(status: int = 200, **headers: str) -> bytes:
    """A response head; header names are given with ``_`` for ``-``."""
    lines = [f"HTTP/1.1 {status} X".encode()]
    lines += [f"{name.replace('_', '-')}: {value}".encode() for name, value in headers.items()]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


def trickle(data: bytes, every: float) -> list[tuple[float, bytes]]:
    """``data`` one byte at a time, ``every`` seconds apart."""
    return [(every, data[i : i + 1]) for i in range(len(data))]


@asynccontextmanager
async def trickle_server(reply: Callable[[int], Steps]) -> AsyncIterator[str]:
    """Serve ``reply(n)`` to the ``n``-th connection; yield the server's base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    connections = 0

    async def serve(stream: SocketStream) -> None:
        nonlocal connections
        n, connections = connections, connections + 1
        async with stream:
            try:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += await stream.receive()
                for delay, data in reply(n):
                    if delay:
                        await anyio.sleep(delay)
                    await stream.send(data)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the client went away: that is what these tests provoke

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                tg.cancel_scope.cancel()
    finally:
        await listener.aclose()
