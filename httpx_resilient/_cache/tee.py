"""``TeeStream``: hand a cold response's body to its caller while keeping a copy to store.

The first caller gets each chunk as it arrives (no waiting for the whole body), cut to
at most ``CHUNK_SIZE`` bytes so a compression bomb is never handed over in large raw
pieces. A copy is kept up to ``limit`` bytes; past it the copy is dropped at once and
``on_abandon`` runs. Only when the stream ends normally does ``on_complete(body)`` run
(one storage call: atomic), so a caller that stops reading, closes early, is cancelled
or meets a read error leaves no entry, and never a half-written one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from .._core.body import CHUNK_SIZE

__all__ = ["TeeStream"]


class _TeeIterator:
    """The iterator of one pass over a ``TeeStream`` (a class: no generator to finalise)."""

    __slots__ = ("_pending", "_source", "_tee")

    def __init__(self, tee: TeeStream) -> None:
        self._tee = tee
        self._source = tee.original.__aiter__()
        self._pending: list[bytes] = []

    def __aiter__(self) -> _TeeIterator:
        return self

    async def __anext__(self) -> bytes:
        if self._pending:
            return self._pending.pop()
        tee = self._tee
        while True:
            try:
                chunk = await self._source.__anext__()
            except StopAsyncIteration:
                await tee.finish()
                raise
            if chunk:
                break
        await tee.keep(chunk)
        if len(chunk) <= CHUNK_SIZE:
            return chunk
        pieces = [chunk[i : i + CHUNK_SIZE] for i in range(0, len(chunk), CHUNK_SIZE)]
        pieces.reverse()
        first = pieces.pop()
        self._pending = pieces
        return first

    async def aclose(self) -> None:
        close = getattr(self._source, "aclose", None)
        if close is not None:
            await close()


class TeeStream(httpx.AsyncByteStream):
    """Streams ``original`` to the caller and reports its bytes once it ended.

    Args:
        original: the response stream from upstream.
        limit: most bytes kept (``max_entry_bytes``).
        on_complete: awaited with the whole body when the stream ended within ``limit``.
        on_abandon: awaited once if the body outgrows ``limit``.
    """

    def __init__(
        self,
        original: httpx.AsyncByteStream,
        limit: int,
        on_complete: Callable[[bytes], Awaitable[None]],
        on_abandon: Callable[[], Awaitable[None]],
    ) -> None:
        self.original = original
        self._limit = limit
        self._chunks: list[bytes] | None = []
        self._size = 0
        self._complete: Callable[[bytes], Awaitable[None]] | None = on_complete
        self._abandon: Callable[[], Awaitable[None]] | None = on_abandon
        self._iterator: _TeeIterator | None = None

    @property
    def keeping(self) -> bool:
        """Whether a copy is still being kept (not abandoned, not yet delivered)."""
        return self._chunks is not None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = _TeeIterator(self)
        return self._iterator

    async def keep(self, chunk: bytes) -> None:
        chunks = self._chunks
        if chunks is None:
            return
        self._size += len(chunk)
        if self._size <= self._limit:
            chunks.append(chunk)
            return
        self._chunks = None
        self._complete = None
        abandon, self._abandon = self._abandon, None
        if abandon is not None:
            await abandon()

    async def finish(self) -> None:
        chunks, self._chunks = self._chunks, None
        complete, self._complete = self._complete, None
        self._abandon = None
        if chunks is not None and complete is not None:
            await complete(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    async def aclose(self) -> None:
        self._chunks = None  # a stream closed before its end is never stored
        self._complete = self._abandon = None
        iterator, self._iterator = self._iterator, None
        try:
            if iterator is not None:
                await iterator.aclose()
        finally:
            await self.original.aclose()
