"""The chaos server's I/O: HTTP/1.1 on anyio + h11, under asyncio or trio.

``ChaosServer.serve()`` listens and hands each request to a ``ChaosApp``; it keeps
connections alive, bounds what it reads (header block, request body) and never waits
forever: a connection whose single read or write takes longer than ``io_timeout`` is
closed (an idle keep-alive connection too). ``testing._chaos`` has the ways to run it.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import socket
import struct

import anyio
import anyio.abc
import h11

from ..._core.clock import SYSTEM_CLOCK, Clock, wall_time
from ..._core.validate import int_at_least, positive
from .app import ChaosApp
from .reply import Reply

__all__ = ["ChaosServer"]

logger = logging.getLogger("httpx_resilient.chaos")

_SERVER = ("server", "httpx-resilient-chaos")
_RECEIVE_BYTES = 65536
_LINGER_ZERO = struct.pack("ii", 1, 0)
_LINGER_BYTES = 256 * 1024  # drained at most after an error answer
_DROPPED = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, h11.ProtocolError)


class _Closed(Exception):
    """The connection is over (peer closed, protocol error answered, or reset)."""


class _Connection:
    """One accepted connection: h11 state, the stream, and the time its I/O began."""

    def __init__(self, stream: anyio.abc.ByteStream, server: ChaosServer) -> None:
        self.stream = stream
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=server.max_header_bytes)
        self.io_since: float | None = None

    async def next_event(self) -> h11.Event:
        while True:
            event = self.h11.next_event()
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:  # not reached: each cycle ends before the next read
                raise _Closed
            self.io_since = self.server.clock.now()
            try:
                data = await self.stream.receive(_RECEIVE_BYTES)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                data = b""
            finally:
                self.io_since = None
            self.h11.receive_data(data)

    async def send(self, *events: h11.Event) -> None:
        """Send ``events`` in one write (separate small writes would meet Nagle's delay)."""
        data = b"".join(self.h11.send(event) or b"" for event in events)
        if data:
            self.io_since = self.server.clock.now()
            try:
                await self.stream.send(data)
            finally:
                self.io_since = None

    async def reply(self, reply: Reply, *, head: bool) -> None:
        clock = self.server.clock
        headers = [_SERVER, ("date", email.utils.formatdate(wall_time(clock), usegmt=True))]
        headers.extend(reply.headers)
        bodiless = reply.status in (204, 304)  # no Content-Length: a cache would copy it
        body = b"" if bodiless else reply.body
        if not reply.chunks and not bodiless:
            headers.append(("content-length", str(len(body))))
        response = h11.Response(status_code=reply.status, headers=headers)
        if head or not body:
            await self.send(response, h11.EndOfMessage())
        elif not reply.chunks:
            await self.send(response, h11.Data(data=body), h11.EndOfMessage())
        else:
            size = -(-len(body) // reply.chunks)  # ceiling division
            await self.send(response, h11.Data(data=body[:size]))
            for start in range(size, len(body), size):
                await clock.sleep(reply.chunk_delay)
                await self.send(h11.Data(data=body[start : start + size]))
            await self.send(h11.EndOfMessage())

    async def error(self, status: int, message: str) -> None:
        """Answer a request we won't serve, then close (only if no answer began)."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = message.encode()
        headers = [
            _SERVER,
            ("content-type", "text/plain"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        response = h11.Response(status_code=status, headers=headers)
        await self.send(response, h11.Data(data=body), h11.EndOfMessage())
        await self._linger()

    async def _linger(self) -> None:
        """Half-close, then drop what the peer still sends (bounded) until it closes.

        Closing with unread bytes in the socket would send a TCP RST, and the peer could
        lose the answer it has not read yet.
        """
        with contextlib.suppress(*_DROPPED, anyio.EndOfStream):
            await self.stream.send_eof()
            drained = 0
            while drained < _LINGER_BYTES:
                self.io_since = self.server.clock.now()
                drained += len(await self.stream.receive(_RECEIVE_BYTES))

    async def reset(self) -> None:
        """Drop the connection with a TCP RST where the platform lets us."""
        raw = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        await self.stream.aclose()


class ChaosServer:
    """A loopback HTTP/1.1 server that answers through a ``ChaosApp``.

    Args:
        app: the behaviour; ``ChaosApp(seed)`` by default.
        seed: the seed for the default app (ignored when ``app`` is given).
        host: the address to bind (default 127.0.0.1).
        port: the port; 0 (default) picks a free one.
        clock: times delays, the rate limiter and I/O timeouts.
        io_timeout: seconds one read or write may take, idle keep-alive included
            (default 10).
        max_header_bytes: bound on a request's header block (default 16 KiB; 431).
        max_body_bytes: bound on a request body (default 1 MiB; 413).
        max_connections: connections served at once; more are closed (default 512).

    Raises:
        ConfigError: a bound or the timeout is out of range.
    """

    def __init__(
        self,
        app: ChaosApp | None = None,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        io_timeout: float = 10.0,
        max_header_bytes: int = 16 * 1024,
        max_body_bytes: int = 1024 * 1024,
        max_connections: int = 512,
    ) -> None:
        positive("ChaosServer", "io_timeout", io_timeout)
        int_at_least("ChaosServer", "max_header_bytes", max_header_bytes, 64)
        int_at_least("ChaosServer", "max_body_bytes", max_body_bytes, 0)
        int_at_least("ChaosServer", "max_connections", max_connections, 1)
        self.app = app if app is not None else ChaosApp(seed)
        self.host = host
        self.port = port
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.io_timeout = io_timeout
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self._active = 0

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until cancelled; reports the base URL through ``task_status``."""
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        async with listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
            host = f"[{self.host}]" if ":" in self.host else self.host
            url = f"http://{host}:{port}"
            logger.info("chaos server listening on %s", url)
            task_status.started(url)
            await listener.serve(self._connection)

    async def _connection(self, stream: anyio.abc.ByteStream) -> None:
        async with stream:
            if self._active >= self.max_connections:
                return
            self._active += 1
            self.app.connections += 1
            connection = _Connection(stream, self)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watchdog, connection, tg.cancel_scope)
                    # Errors end this connection only, and never leave the task group
                    # (which would wrap them in an ExceptionGroup and stop the server).
                    try:
                        await self._serve(connection)
                    except _Closed:
                        pass
                    except _DROPPED:
                        logger.debug("chaos server: connection dropped", exc_info=True)
                    except Exception:
                        logger.exception("chaos server: error while serving a connection")
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                self._active -= 1

    async def _watchdog(self, connection: _Connection, scope: anyio.CancelScope) -> None:
        """Cancel the connection when one read or write outlasts ``io_timeout``."""
        clock, timeout = self.clock, self.io_timeout
        while True:
            since = connection.io_since
            left = timeout if since is None else since + timeout - clock.now()
            if left <= 0:
                logger.debug("chaos server: closing a connection idle for %.1f s", timeout)
                scope.cancel()
                return
            await clock.sleep(left)

    async def _serve(self, connection: _Connection) -> None:
        conn = connection.h11
        while True:
            try:
                event = await connection.next_event()
                if not isinstance(event, h11.Request):
                    raise _Closed  # ConnectionClosed
                # h11 bounds a header block that arrives in pieces; one that arrived
                # whole is measured here.
                head = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
                if head > self.max_header_bytes:
                    await connection.error(431, "request header fields too large\n")
                    raise _Closed
                await self._read_body(connection)
            except h11.RemoteProtocolError as exc:
                await connection.error(exc.error_status_hint, f"bad request: {exc}\n")
                raise _Closed from None
            target = event.target.decode("ascii", "replace")
            headers = {
                name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers
            }
            reply = self.app.handle(
                event.method.decode("ascii", "replace"), target, headers, self.clock.now()
            )
            if reply.reset:
                await connection.reset()
                raise _Closed
            if reply.delay > 0:
                await self.clock.sleep(reply.delay)
            await connection.reply(reply, head=event.method == b"HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                raise _Closed
            conn.start_next_cycle()

    async def _read_body(self, connection: _Connection) -> None:
        """Read and drop the request body, up to ``max_body_bytes`` (else 413 and close)."""
        size = 0
        while True:
            event = await connection.next_event()
            if isinstance(event, h11.EndOfMessage):
                return
            if not isinstance(event, h11.Data):
                raise _Closed
            size += len(event.data)
            if size > self.max_body_bytes:
                await connection.error(413, "request body too large\n")
                raise _Closed
