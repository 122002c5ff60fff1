"""``ReleasingStream``: a response body that frees a resource once, when it ends.

The bulkhead holds a request's slot until its body is read to the end or closed,
because until then the connection under it is still busy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")

__all__ = ["ReleasingStream"]


class ReleasingStream(httpx.AsyncByteStream, Generic[T]):
    """Passes the body through; at its end or on ``aclose()``, whichever comes first,
    closes the inner stream (handing the connection back to its pool) and only then
    calls ``release(arg)``, exactly once (an argument rather than a closure: nothing
    more is allocated per request).

    A plain async iterator rather than an async generator: asyncio tracks every async
    generator it sees, which would cost more than the rest of the queue together.
    """

    __slots__ = ("_arg", "_iterator", "_release", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[T], None], arg: T) -> None:
        self._stream = stream
        self._release: Callable[[T], None] | None = release
        self._arg = arg
        self._iterator: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = self._stream.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        assert self._iterator is not None
        try:
            return await self._iterator.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return
        try:
            await self._stream.aclose()
        finally:
            release(self._arg)
