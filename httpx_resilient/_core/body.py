"""Bounded body buffering and chunked replay, shared by retry, dedup and cache.

Layers see bodies as received (still content-encoded). A buffer is filled
incrementally up to a bound and replayed in 16 KiB chunks (``CHUNK_SIZE``), so a caller
that streams still decodes incrementally and the library never inflates a compression
bomb: a 16 KiB deflate chunk inflates to at most about 16 MiB in the caller's decoder,
where a 64 KiB one could reach 64 MiB. A body over the bound is handed on as a stream:
the chunks read so far, then the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

__all__ = [
    "CHUNK_SIZE",
    "PrefixedStream",
    "ReplayStream",
    "read_at_once",
    "read_bounded",
    "replay_response",
]

#: Replay chunk size (DESIGN "Bodies and lifecycle"): small enough that one chunk of a
#: compression bomb stays small once decoded.
CHUNK_SIZE = 16 * 1024


class _ChunkIterator:
    """Async iterator over ``data`` in ``CHUNK_SIZE`` slices (cheaper than a generator)."""

    __slots__ = ("_data", "_offset")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def __aiter__(self) -> _ChunkIterator:
        return self

    async def __anext__(self) -> bytes:
        data, offset = self._data, self._offset
        if offset >= len(data):
            raise StopAsyncIteration
        if offset == 0 and len(data) <= CHUNK_SIZE:
            self._offset = len(data)
            return data
        self._offset = offset + CHUNK_SIZE
        return data[offset : offset + CHUNK_SIZE]


class ReplayStream(httpx.AsyncByteStream):
    """Replays buffered bytes in ``CHUNK_SIZE`` chunks; can be iterated any number of times."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _ChunkIterator(self.data)

    async def aclose(self) -> None:
        return None


class PrefixedStream(httpx.AsyncByteStream):
    """Yields chunks already read, then the rest of the original stream."""

    __slots__ = ("_head", "_original", "_rest")

    def __init__(
        self,
        head: list[bytes],
        rest: AsyncIterator[bytes],
        original: httpx.AsyncByteStream,
    ) -> None:
        self._head = head
        self._rest = rest
        self._original = original

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head, self._head = self._head, []
        for chunk in head:
            yield chunk
        async for chunk in self._rest:
            yield chunk

    async def aclose(self) -> None:
        # Close the half-read iterator first: an unclosed async generator left to the
        # garbage collector warns (and under trio, its cleanup can't run).
        close = getattr(self._rest, "aclose", None)
        try:
            if close is not None:
                await close()
        finally:
            await self._original.aclose()


def _async_stream(response: httpx.Response) -> httpx.AsyncByteStream:
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("an async transport returned a response with a sync-only stream")
    return stream


async def read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """Read ``response``'s raw body if it is at most ``limit`` bytes.

    On success the stream is closed and replaced by a ``ReplayStream`` of the bytes,
    which are returned. If the body is larger (by ``Content-Length`` or as read), the
    stream is replaced by a ``PrefixedStream`` that loses nothing, and ``None`` is
    returned. Errors while reading propagate; the caller closes the response.
    """
    stream = _async_stream(response)
    if isinstance(stream, ReplayStream):
        return stream.data if len(stream.data) <= limit else None
    if isinstance(stream, httpx.ByteStream):
        # Already in memory (built with content=..., e.g. by MockTransport): the raw
        # bytes come out of a plain iteration, and the stream replays as it is.
        data = b"".join(stream)
        return data if len(data) <= limit else None
    chunks: list[bytes] = []
    size = 0
    checked = False
    iterator = stream.__aiter__()
    async for chunk in iterator:
        if not chunk:
            continue
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            response.stream = PrefixedStream(chunks, iterator, stream)
            return None
        if not checked and len(chunks) > 1:
            # Only a body that did not come in one chunk pays for the header look-up;
            # a declared length over the limit stops buffering early.
            checked = True
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                response.stream = PrefixedStream(chunks, iterator, stream)
                return None
    await stream.aclose()
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    response.stream = ReplayStream(data)
    return data


def replay_response(
    status_code: int,
    headers: httpx.Headers | list[tuple[bytes, bytes]],
    data: bytes,
    *,
    request: httpx.Request | None = None,
    extensions: dict[str, object] | None = None,
) -> httpx.Response:
    """Build an independent response whose body replays ``data`` in chunks."""
    return httpx.Response(
        status_code,
        headers=headers,
        stream=ReplayStream(data),
        request=request,
        extensions=extensions if extensions is not None else {},
    )


def read_at_once(response: httpx.Response, limit: int, method: str) -> bool:
    """Whether a layer may read ``response``'s body before handing it on.

    Only a body that cannot keep a streaming caller waiting: one already in memory, one
    with no content by HTTP rules (a HEAD, 1xx, 204 or 304), or one whose
    ``Content-Length`` is declared and at most ``limit``, and never a
    ``text/event-stream``. A chunked body of unknown length is handed on at once, so
    ``client.stream()`` gets its first bytes as soon as the server sends them.
    """
    stream = response.stream
    if isinstance(stream, (ReplayStream, httpx.ByteStream)):
        return True
    status = response.status_code
    if method == "HEAD" or status < 200 or status in (204, 304):
        return True
    headers = response.headers
    declared = headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > limit:
        return False
    return not headers.get("content-type", "").lower().startswith("text/event-stream")
