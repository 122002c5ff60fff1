"""``ScriptedTransport``: a fake inner transport that the test answers request by request."""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

__all__ = ["PendingRequest", "ScriptedTransport"]

Handler = Callable[[httpx.Request], "httpx.Response | Awaitable[httpx.Response]"]


class PendingRequest:
    """A request that arrived at a ``ScriptedTransport`` and waits for the test's answer."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self._answered = anyio.Event()
        self._response: httpx.Response | None = None
        self._error: BaseException | None = None

    def respond(
        self,
        status_code: int = 200,
        *,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        stream: httpx.AsyncByteStream | None = None,
    ) -> None:
        """Answer with a response built from these arguments."""
        if stream is not None:
            response = httpx.Response(status_code, headers=headers, stream=stream)
        else:
            response = httpx.Response(status_code, headers=headers, content=content, json=json)
        self.respond_with(response)

    def respond_with(self, response: httpx.Response) -> None:
        """Answer with a ready-made response."""
        self._response = response
        self._answered.set()

    def fail(self, error: BaseException) -> None:
        """Make the transport raise ``error`` for this request."""
        self._error = error
        self._answered.set()

    @property
    def answered(self) -> bool:
        """Whether the test has answered this request."""
        return self._answered.is_set()

    async def _outcome(self) -> httpx.Response:
        await self._answered.wait()
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response


class ScriptedTransport(httpx.AsyncBaseTransport):
    """An inner transport for tests.

    With a ``handler`` (sync or async ``Request -> Response``, which may raise), each
    request is answered by it at once. Without one, each request waits until the test
    takes it with ``await transport.next_request()`` and answers it with ``respond()`` or
    ``fail()``, so the test decides what happens while other requests are in flight.

    Attributes:
        requests: every request received, in order.
        in_flight: requests received and not yet answered.
        closed: how many times ``aclose()`` was called.
        entered: how many times ``__aenter__`` was called.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.closed = 0
        self.entered = 0
        self.exited = 0
        self._unclaimed: deque[PendingRequest] = deque()
        self._arrival: anyio.Event | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        try:
            if self.handler is not None:
                result = self.handler(request)
                if inspect.isawaitable(result):
                    result = await result
                assert isinstance(result, httpx.Response)
                return result
            pending = PendingRequest(request)
            self._unclaimed.append(pending)
            if self._arrival is not None:
                self._arrival.set()
                self._arrival = None
            return await pending._outcome()
        finally:
            self.in_flight -= 1

    async def next_request(self) -> PendingRequest:
        """Wait for the next request that has no answer yet (only without a handler)."""
        while not self._unclaimed:
            if self._arrival is None:
                self._arrival = anyio.Event()
            await self._arrival.wait()
        return self._unclaimed.popleft()

    @property
    def calls(self) -> int:
        """How many requests reached this transport."""
        return len(self.requests)

    async def aclose(self) -> None:
        self.closed += 1

    async def __aenter__(self) -> ScriptedTransport:
        self.entered += 1
        return self

    async def __aexit__(self, *args: object) -> None:
        self.exited += 1
        await self.aclose()
