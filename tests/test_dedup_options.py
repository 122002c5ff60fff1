"""Dedup shares only between requests whose per-request options agree, never a stream.

The three failure stories of issue 9.5: a leader's budget, ``timeout`` or
``retry=False`` must not decide the outcome of followers that asked for something else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import TimeoutBudgetExceeded
from httpx_resilient._dedup.config import DedupConfig
from httpx_resilient._dedup.key import dedup_key
from httpx_resilient._dedup.transport import DedupTransport
from httpx_resilient.testing import ScriptedTransport
from tests.test_dedup import URL, Crowd, assert_clean, run_crowd

pytestmark = pytest.mark.anyio

METHODS = frozenset({"GET", "HEAD"})


def key(**extensions: Any) -> object:
    return dedup_key(httpx.Request("GET", URL, extensions=extensions), METHODS)


def test_each_option_is_in_the_key() -> None:
    base = key()
    assert key() == base
    for options in (
        {"retry": False},
        {"retry": True},
        {"timeout_budget": 1.0},
        {"cache": "no-cache"},
        {"timeout": httpx.Timeout(0.05).as_dict()},
    ):
        assert key(**options) != base, options
        assert key(**options) == key(**options)


def test_an_unhashable_option_is_not_shared() -> None:
    assert key(cache=["no-cache"]) is None


# (what the leader asked for, how its own call ends)
STORIES = [
    pytest.param(
        {"extensions": {"timeout_budget": 1.0}},
        TimeoutBudgetExceeded("the leader's budget was spent"),
        id="leader-budget",
    ),
    pytest.param({"timeout": 0.05}, httpx.ReadTimeout("leader's short timeout"), id="timeout"),
    pytest.param({"extensions": {"retry": False}}, 503, id="retry-false"),
    pytest.param({"extensions": {"cache": "no-cache"}}, 500, id="cache"),
]


@pytest.mark.parametrize(("leader", "outcome"), STORIES)
async def test_a_follower_with_other_options_makes_its_own_call(
    leader: dict[str, Any], outcome: object
) -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(1, **leader)
        first = await inner.next_request()
        crowd.start(1)  # the patient follower: default options
        with anyio.fail_after(2):  # before the fix it waits on the leader instead
            second = await inner.next_request()
        if isinstance(outcome, int):
            first.respond(outcome)
        else:
            assert isinstance(outcome, BaseException)
            first.fail(outcome)
        second.respond(200, content=b"mine")

    crowd = await run_crowd(transport, script)
    assert inner.calls == 2
    assert crowd.responses[1].content == b"mine"
    assert crowd.responses[1].extensions["deduplicated"] is False
    if isinstance(outcome, int):
        assert crowd.responses[0].status_code == outcome
    else:
        assert type(crowd.errors[0]) is type(outcome)
    assert_clean(transport)


async def test_the_same_options_still_share() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    options: dict[str, Any] = {
        "timeout": 0.05,
        "extensions": {"retry": False, "timeout_budget": 1.0, "cache": "no-cache"},
    }

    async def script(crowd: Crowd) -> None:
        crowd.start(3, **options)
        pending = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        pending.respond(200, content=b"shared")

    crowd = await run_crowd(transport, script)
    assert inner.calls == 1
    assert [crowd.responses[i].content for i in range(3)] == [b"shared"] * 3
    assert transport.statistics().shared == 2


async def test_a_leaders_spent_budget_is_not_inherited() -> None:
    """Same options, but the leader started earlier: a follower makes the call."""
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    options = {"extensions": {"timeout_budget": 1.0}}

    async def script(crowd: Crowd) -> None:
        crowd.start(1, **options)
        first = await inner.next_request()
        crowd.start(2, **options)
        await anyio.wait_all_tasks_blocked()
        first.fail(TimeoutBudgetExceeded("the leader's budget was spent"))
        second = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        second.respond(200, content=b"late but in time")

    crowd = await run_crowd(transport, script)
    assert isinstance(crowd.errors[0], TimeoutBudgetExceeded)
    assert crowd.responses[1].content == crowd.responses[2].content == b"late but in time"
    assert inner.calls == 2
    assert_clean(transport)


class Endless(httpx.AsyncByteStream):
    """A chunked body that sends one chunk and then nothing until told."""

    def __init__(self, gate: anyio.Event) -> None:
        self.gate = gate
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"first"
        await self.gate.wait()
        yield b"rest"

    async def aclose(self) -> None:
        self.closed = True


async def test_a_stream_is_not_shared_and_nobody_waits_on_it() -> None:
    gate = anyio.Event()
    inner = ScriptedTransport(lambda request: httpx.Response(200, stream=Endless(gate)))
    transport = DedupTransport(inner, DedupConfig())
    async with httpx.AsyncClient(transport=transport) as client:
        firsts: list[bytes] = []

        async def one() -> None:
            received = b""
            async with client.stream("GET", URL) as response:
                async for part in response.aiter_raw():
                    if not received:
                        firsts.append(part)
                        if len(firsts) == 3:  # every caller has its first bytes: go on
                            gate.set()
                    received += part
            assert received == b"firstrest"

        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(one)
    assert firsts == [b"first"] * 3  # each got its first bytes while the gate was shut
    assert inner.calls == 3
    assert_clean(transport)
