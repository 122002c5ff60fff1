"""Bounded shutdown for ``ResilientTransport``: what is in flight, and how it is ended.

A request is in flight from the moment it enters the stack until its response body is
read to the end or closed (a returned response whose body is still open counts: its
connection is still busy). ``Flights`` tracks each one with a cancel scope around the
call and around every single body read (never across a ``yield``: a scope held across
a generator's suspension breaks under trio), so that ``aclose()`` can end whatever is
left after ``close_grace`` seconds; each then fails with ``ClientClosedError``.

Closing order: every layer's ``begin_close()`` fails its queued waiters at once; then
the stack waits (``Flights.wait_idle``) and cancels what is left; only then are the
layers and the network transport closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx

from ._core.body import ReplayStream
from ._core.clock import Clock
from ._core.errors import ClientClosedError
from ._core.scopes import cancel_scope

__all__ = ["Flight", "Flights", "TrackedBody", "closed_error"]


class Flight:
    """One request in flight: the scope of its current await, if any."""

    __slots__ = ("body", "killed", "scope")

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.killed = False
        self.body: TrackedBody | None = None


class Flights:
    """The requests in flight through one stack, and how to wait for them or end them."""

    __slots__ = ("_idle", "live")

    def __init__(self) -> None:
        self.live: set[Flight] = set()
        self._idle: anyio.Event | None = None

    def start(self) -> Flight:
        flight = Flight()
        self.live.add(flight)
        return flight

    def done(self, flight: Flight) -> None:
        self.live.discard(flight)
        if not self.live and self._idle is not None:
            self._idle.set()

    async def send(
        self, transport: httpx.AsyncBaseTransport, request: httpx.Request, grace: float
    ) -> httpx.Response:
        """``transport.handle_async_request(request)``, in flight until its body ends.

        Raises:
            ClientClosedError: ``cancel_all()`` ended it (the close grace ran out).
        """
        flight = self.start()
        flight.scope = scope = cancel_scope()
        try:
            with scope:
                response = await transport.handle_async_request(request)
        except Exception as exc:
            self.done(flight)
            if flight.killed:
                raise closed_error(request, grace) from exc
            raise
        except BaseException:
            self.done(flight)
            raise
        finally:
            flight.scope = None
        if scope.cancelled_caught or flight.killed:
            self.done(flight)
            if not scope.cancelled_caught:  # the answer came as the close cancelled it
                await response.aclose()
            raise closed_error(request, grace)
        stream = response.stream
        if (
            response.is_closed
            or isinstance(stream, (httpx.ByteStream, ReplayStream))  # in memory: cannot hang
            or not isinstance(stream, httpx.AsyncByteStream)
        ):
            self.done(flight)
        else:
            response.stream = TrackedBody(stream, self, flight, request, grace)
        return response

    async def wait_idle(self, clock: Clock, grace: float | None) -> bool:
        """Wait until nothing is in flight, at most ``grace`` seconds on ``clock``
        (``None``: no bound); return whether everything finished."""
        if not self.live:
            return True
        self._idle = idle = anyio.Event()
        try:
            if grace is None:
                await idle.wait()
                return True
            async with anyio.create_task_group() as group:

                async def give_up() -> None:
                    await clock.sleep(grace)
                    group.cancel_scope.cancel()

                group.start_soon(give_up)
                await idle.wait()
                group.cancel_scope.cancel()
            return not self.live
        finally:
            self._idle = None

    async def drain(self, clock: Clock, grace: float) -> None:
        """Wait up to ``grace`` seconds for everything in flight, then end the rest."""
        if not await self.wait_idle(clock, grace):
            await self.cancel_all()
            await self.wait_idle(clock, None)

    async def cancel_all(self) -> None:
        """End every request still in flight: cancel the awaits in progress (their
        callers get ``ClientClosedError``) and close bodies nobody is reading."""
        for flight in list(self.live):
            flight.killed = True
            if flight.scope is not None:
                flight.scope.cancel()
            elif flight.body is not None:
                await flight.body.aclose()
            else:
                self.done(flight)


def closed_error(request: httpx.Request, grace: float) -> ClientClosedError:
    return ClientClosedError(
        f"the transport was closed and close_grace ({grace:g} s) ran out before this "
        "request finished",
        request=request,
    )


class TrackedBody(httpx.AsyncByteStream):
    """A response body that stays in flight until read to the end or closed; each
    read runs in its own cancel scope, so a close can interrupt a read that hangs.

    A plain async iterator, not an async generator, so no scope spans a ``yield``.
    """

    __slots__ = ("_flight", "_flights", "_grace", "_iterator", "_killed", "_request", "_stream")

    def __init__(
        self,
        stream: httpx.AsyncByteStream,
        flights: Flights,
        flight: Flight,
        request: httpx.Request,
        grace: float,
    ) -> None:
        self._stream = stream
        self._flights = flights
        self._flight: Flight | None = flight
        self._request = request
        self._grace = grace
        self._iterator: AsyncIterator[bytes] | None = None
        self._killed = False
        flight.body = self

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = self._stream.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        flight = self._flight
        if flight is None or flight.killed:
            await self.aclose()
            if self._killed:
                raise closed_error(self._request, self._grace)
            raise StopAsyncIteration
        assert self._iterator is not None
        flight.scope = scope = cancel_scope()
        try:
            with scope:
                chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            flight.scope = None
            await self.aclose()
            raise
        except BaseException as exc:
            flight.scope = None
            if not flight.killed:
                raise
            await self.aclose()
            raise closed_error(self._request, self._grace) from exc
        flight.scope = None
        if scope.cancelled_caught or flight.killed:
            await self.aclose()
            raise closed_error(self._request, self._grace)
        return chunk

    async def aclose(self) -> None:
        flight, self._flight = self._flight, None
        if flight is None:
            return
        self._killed = flight.killed
        try:
            close = getattr(self._iterator, "aclose", None)
            if close is not None:  # a half-read async generator must be closed, not dropped
                await close()
        finally:
            try:
                await self._stream.aclose()
            finally:
                flight.body = None
                self._flights.done(flight)
