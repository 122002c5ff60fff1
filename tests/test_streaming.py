"""Streaming survives retry and dedup: first bytes reach ``client.stream()`` at once.

A raw loopback server sends its first chunk with the headers and the rest 0.3 s apart;
the caller must see the first chunk within 0.25 s, and every byte in the end.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient import DedupConfig, ResilientTransport, RetryConfig
from tests.trickle import LAST_CHUNK, Steps, chunk, head, trickle_server

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

PARTS = [b"first ", b"second ", b"third"]
BODY = b"".join(PARTS)
FIRST_BYTES_WITHIN = 0.25


def chunked(n: int = 0) -> Steps:
    """A chunked body of unknown length: the first chunk at once, the rest 0.3 s apart."""
    return [
        (0.0, head(Transfer_Encoding="chunked", Content_Type="text/plain") + chunk(PARTS[0])),
        (0.3, chunk(PARTS[1])),
        (0.3, chunk(PARTS[2]) + LAST_CHUNK),
    ]


def event_stream(n: int = 0) -> Steps:
    """Server-sent events with a declared (small) length: never buffered either."""
    return [
        (0.0, head(Content_Type="text/event-stream", Content_Length=str(len(BODY))) + PARTS[0]),
        (0.3, PARTS[1]),
        (0.3, PARTS[2]),
    ]


STACKS: dict[str, dict[str, Any]] = {
    "retry": {"retry": RetryConfig(budget=None)},
    "dedup": {"dedup": DedupConfig()},
    "retry+dedup": {"retry": RetryConfig(budget=None), "dedup": DedupConfig()},
}


async def stream_once(client: httpx.AsyncClient, url: str) -> tuple[float, bytes]:
    """Stream ``url``: seconds to the first chunk, and the whole raw body."""
    start = anyio.current_time()
    first = -1.0
    received = b""
    async with client.stream("GET", url) as response:
        async for part in response.aiter_raw():
            if first < 0:
                first = anyio.current_time() - start
            received += part
    return first, received


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("reply", [chunked, event_stream], ids=["chunked", "event-stream"])
async def test_first_chunk_arrives_at_once(stack: str, reply: Any) -> None:
    async with trickle_server(reply) as url:
        transport = ResilientTransport(**STACKS[stack])
        async with httpx.AsyncClient(transport=transport) as client:
            first, received = await stream_once(client, url)
    assert first < FIRST_BYTES_WITHIN
    assert received == BODY


async def test_dedup_followers_of_a_stream_go_upstream_at_once() -> None:
    """A response that is not buffered is not shared: nobody waits on the stream."""
    async with trickle_server(chunked) as url:
        transport = ResilientTransport(dedup=DedupConfig(), retry=RetryConfig(budget=None))
        results: list[tuple[float, bytes]] = []
        async with httpx.AsyncClient(transport=transport) as client:

            async def one() -> None:
                results.append(await stream_once(client, url))

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(one)
    assert len(results) == 3
    assert all(first < FIRST_BYTES_WITHIN for first, _ in results)
    assert all(received == BODY for _, received in results)
