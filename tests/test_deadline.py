"""``timeout_budget`` is a hard deadline, held against servers that trickle bytes.

Real sockets and real time (a cancel scope is what is tested), with short budgets: a
raw loopback server sends headers or body one byte every 0.2 s, so httpx's per-read
timeouts never fire; the request must still end within 1.5x its budget, with
``TimeoutBudgetExceeded`` saying the budget was spent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient import (
    DedupConfig,
    RateLimitedAPIClient,
    ResilientTransport,
    RetryConfig,
    TimeoutBudgetExceeded,
    TimeoutConfig,
)
from tests.trickle import LAST_CHUNK, Steps, chunk, head, trickle, trickle_server

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

BUDGET = 0.5
SLACK = 1.5
EVERY = 0.2
N = 40  # bytes trickled: 8 s, far beyond the budget


def slow_headers(n: int = 0) -> Steps:
    return trickle(head(Content_Length="2") + b"ok", EVERY)


def slow_body(n: int = 0) -> Steps:
    return [(0.0, head(Content_Length=str(N))), *trickle(b"x" * N, EVERY)]


def slow_chunked_body(n: int = 0) -> Steps:
    return [
        (0.0, head(Transfer_Encoding="chunked")),
        *[(EVERY, chunk(b"x")) for _ in range(N)],
        (0.0, LAST_CHUNK),
    ]


Get = Callable[[str], Any]


@asynccontextmanager
async def budgeted(how: str, url: str) -> AsyncIterator[Get]:
    """A client whose GETs carry a 0.5 s budget, set the way ``how`` names."""
    if how == "TimeoutConfig(total)":
        async with RateLimitedAPIClient(url, timeout=TimeoutConfig(total=BUDGET)) as client:
            yield client.get
        return
    if how == "RetryConfig(timeout_budget)":
        transport = ResilientTransport(retry=RetryConfig(timeout_budget=BUDGET, budget=None))
        extensions: dict[str, object] = {}
    else:  # a per-request extension, on a stack with no retry layer
        transport = ResilientTransport(dedup=DedupConfig())
        extensions = {"timeout_budget": BUDGET}
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:

        async def get(path: str) -> httpx.Response:
            return await client.get(path, extensions=extensions)

        yield get


HOWS = ["RetryConfig(timeout_budget)", "extensions", "TimeoutConfig(total)"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize(
    "reply", [slow_headers, slow_body, slow_chunked_body], ids=["headers", "body", "chunked"]
)
async def test_budget_bounds_a_trickling_server(how: str, reply: Any) -> None:
    async with trickle_server(reply) as url, budgeted(how, url) as get:
        start = anyio.current_time()
        with pytest.raises(TimeoutBudgetExceeded, match="timeout_budget of 0.5 s was spent"):
            await get("/")
        elapsed = anyio.current_time() - start
    assert BUDGET * 0.9 <= elapsed < BUDGET * SLACK


async def test_body_read_by_the_caller_after_return_is_bounded() -> None:
    """``client.stream()``: the stack returned at headers; each later read is bounded."""
    async with trickle_server(slow_chunked_body) as url:
        transport = ResilientTransport(retry=RetryConfig(timeout_budget=BUDGET, budget=None))
        async with httpx.AsyncClient(transport=transport) as client:
            received: list[bytes] = []

            async def stream_all() -> None:
                async with client.stream("GET", url) as response:
                    async for part in response.aiter_raw():
                        received.append(part)

            start = anyio.current_time()
            with pytest.raises(TimeoutBudgetExceeded, match="while the body was read"):
                await stream_all()
            elapsed = anyio.current_time() - start
    assert received  # the first bytes did arrive
    assert elapsed < BUDGET * SLACK


def event_stream(n: int = 0) -> Steps:
    return [(0.0, head(Content_Type="text/event-stream", Content_Length="4")), (0.25, b"a"),
            (0.25, b"bcd")]  # fmt: skip


def headers_then_slow_body(n: int = 0) -> Steps:
    return [(0.0, head(Content_Length="4")), (0.25, b"a"), (0.25, b"bcd")]


@pytest.mark.parametrize(
    ("reply", "extensions"),
    [
        (event_stream, {}),
        (headers_then_slow_body, {"stream": True}),
        (headers_then_slow_body, {"timeout_budget": None}),
    ],
    ids=["event-stream", "stream-extension", "opted-out"],
)
async def test_streams_and_opt_outs_outlive_the_budget(reply: Any, extensions: Any) -> None:
    async with trickle_server(reply) as url:
        # A 0.2 s budget, but the body takes 0.5 s.
        config = RetryConfig(timeout_budget=0.2, budget=None)
        async with (
            httpx.AsyncClient(transport=ResilientTransport(retry=config)) as client,
            client.stream("GET", url, extensions=extensions) as response,
        ):
            assert await response.aread() == b"abcd"


def busy_then_slow(n: int) -> Steps:
    if n == 0:
        return [(0.0, head(503, Content_Length="4", Retry_After="0") + b"busy")]
    return slow_headers()


async def test_an_earlier_response_in_hand_is_returned_when_the_budget_ends() -> None:
    async with trickle_server(busy_then_slow) as url:
        config = RetryConfig(timeout_budget=BUDGET, budget=None, base_delay=0.0)
        async with httpx.AsyncClient(transport=ResilientTransport(retry=config)) as client:
            start = anyio.current_time()
            response = await client.get(url)
            elapsed = anyio.current_time() - start
    assert response.status_code == 503
    assert response.content == b"busy"
    assert response.extensions["attempts"] == 1
    assert elapsed < BUDGET * SLACK
