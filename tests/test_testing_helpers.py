"""The public test helpers: FakeClock and ScriptedTransport."""

from __future__ import annotations

import anyio
import httpx
import pytest

from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio


async def test_fake_clock_advance_wakes_due_sleepers_only() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "a", 1.0)
        tg.start_soon(sleeper, "b", 2.0)
        await anyio.wait_all_tasks_blocked()
        clock.advance(1.5)
        await anyio.wait_all_tasks_blocked()
        assert woke == ["a"]
        assert clock.sleepers == 1
        clock.advance(0.5)
    assert woke == ["a", "b"]
    assert clock.now() == 2.0


async def test_fake_clock_autojump_runs_in_deadline_order() -> None:
    clock = FakeClock(autojump=True)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "late", 10.0)
        tg.start_soon(sleeper, "early", 3.0)
    assert woke == [("early", 3.0), ("late", 10.0)]


async def test_fake_clock_cancelled_sleeper_leaves_nothing() -> None:
    clock = FakeClock()
    with anyio.move_on_after(0.01):
        await clock.sleep(100)
    assert clock.sleepers == 0
    assert not clock.jump_to_next()
    assert clock.now() == 0.0


async def test_scripted_transport_answers_in_test_order() -> None:
    inner = ScriptedTransport()
    results: dict[str, int] = {}

    async def get(path: str) -> None:
        async with httpx.AsyncClient(transport=inner, base_url="http://t") as client:
            results[path] = (await client.get(path)).status_code

    async with anyio.create_task_group() as tg:
        tg.start_soon(get, "/a")
        first = await inner.next_request()
        tg.start_soon(get, "/b")
        second = await inner.next_request()
        assert inner.in_flight == 2
        second.respond(201)
        first.respond(202)
    assert results == {"/a": 202, "/b": 201}
    assert inner.calls == 2


async def test_scripted_transport_handler_may_raise() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=ScriptedTransport(handler)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://t/")
