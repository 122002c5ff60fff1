"""``Layer``: the base of every transport here: wraps one inner transport.

It forwards ``__aenter__``, ``__aexit__`` and ``aclose()`` down the chain exactly once
each, so a stack built from layers behaves like the single transport it replaces.
``begin_close()`` fails a layer's waiters at once, before the stack waits for the
requests in flight; a layer that refuses requests once closed clears that state in
``reopen()``: a closed
stack serves again on its next request, as ``httpx.AsyncHTTPTransport`` does.
"""

from __future__ import annotations

from types import TracebackType

import httpx

from .clock import SYSTEM_CLOCK, Clock
from .faces import mismatch

__all__ = ["Layer"]


class Layer(httpx.AsyncBaseTransport):
    """A transport that adds one behaviour around ``inner``.

    Args:
        inner: the transport requests are passed to.
        clock: the time source; the event loop's clock by default.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, clock: Clock | None = None) -> None:
        if not isinstance(inner, httpx.AsyncBaseTransport):
            foreign = mismatch("inner", inner, httpx.__name__)
            raise TypeError(foreign or f"inner must be an httpx.AsyncBaseTransport, got {inner!r}")
        self._inner = inner
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK

    @property
    def inner(self) -> httpx.AsyncBaseTransport:
        """The wrapped transport."""
        return self._inner

    @property
    def clock(self) -> Clock:
        """The clock this layer reads and waits on."""
        return self._clock

    def statistics(self) -> object:
        """A frozen snapshot of this layer's live state (each layer returns its own type)."""
        raise NotImplementedError

    def begin_close(self) -> None:
        """Refuse new requests and fail the ones waiting in this layer at once with
        ``ClientClosedError``, without awaiting (the stack calls it on every layer
        before it waits for the requests in flight). The default has no waiters."""

    def reopen(self) -> None:
        """Serve requests again after ``aclose()`` / ``__aexit__`` (the stack calls it on
        every layer, outermost first). The default keeps no closed state."""

    async def __aenter__(self) -> Layer:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        await self._inner.aclose()
