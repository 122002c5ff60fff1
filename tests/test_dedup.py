"""DedupTransport and its key function, against scripted inner transports."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import httpx
import pytest

from httpx_resilient._core.deadline import DEADLINE
from httpx_resilient._core.errors import ConfigError, TimeoutBudgetExceeded
from httpx_resilient._core.snapshots import DedupStatistics
from httpx_resilient._dedup import key as _dedup_key
from httpx_resilient._dedup.config import DedupConfig
from httpx_resilient._dedup.key import dedup_key
from httpx_resilient._dedup.transport import DedupTransport
from httpx_resilient.testing import FakeClock, PendingRequest, ScriptedTransport

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

pytestmark = pytest.mark.anyio

URL = "http://api.test/items/1"
METHODS = frozenset({"GET", "HEAD"})


def key(method: str = "GET", url: str = URL, **kwargs: object) -> object:
    return dedup_key(httpx.Request(method, url, **kwargs), METHODS)  # type: ignore[arg-type]


def assert_clean(transport: DedupTransport) -> DedupStatistics:
    stats = transport.statistics()
    assert stats.in_flight_keys == 0
    assert stats.followers_waiting == 0
    return stats


class Crowd:
    """Starts concurrent requests through one client and keeps each outcome."""

    def __init__(self, client: httpx.AsyncClient, tg: anyio.abc.TaskGroup) -> None:
        self.client = client
        self.tg = tg
        self.responses: dict[int, httpx.Response] = {}
        self.errors: dict[int, BaseException] = {}
        self.scopes: dict[int, anyio.CancelScope] = {}

    def start(self, n: int, method: str = "GET", url: str = URL, **kwargs: object) -> None:
        for _ in range(n):
            self.tg.start_soon(self._one, len(self.scopes), method, url, kwargs)
            self.scopes[len(self.scopes)] = anyio.CancelScope()

    async def _one(self, i: int, method: str, url: str, kwargs: dict[str, object]) -> None:
        extensions = dict(kwargs.get("extensions") or {})  # type: ignore[call-overload]
        kwargs = {**kwargs, "extensions": {**extensions, "caller": i}}
        with self.scopes[i]:
            try:
                self.responses[i] = await self.client.request(method, url, **kwargs)  # type: ignore[arg-type]
            except Exception as exc:
                self.errors[i] = exc


async def run_crowd(transport: DedupTransport, script: Callable[[Crowd], Awaitable[None]]) -> Crowd:
    async with httpx.AsyncClient(transport=transport) as client, anyio.create_task_group() as tg:
        crowd = Crowd(client, tg)
        await script(crowd)
    return crowd


# --- the key -------------------------------------------------------------------------


@pytest.fixture(params=["internals", "public-api"])
def key_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the fast key path and with the public-API fallback."""
    if request.param == "public-api":
        monkeypatch.setattr(_dedup_key, "_INTERNALS", False)
    return str(request.param)


def test_fast_key_path_is_available_with_this_httpx() -> None:
    assert _dedup_key._internals_usable()


def test_key_covers_method_url_and_answer_headers(key_path: str) -> None:
    assert key() == key()
    assert key() != key("HEAD")
    assert key() != key(url=URL + "?page=2")
    for name in ("Accept", "Accept-Encoding", "Accept-Language", "Range", "If-None-Match"):
        assert key(headers={name: "a"}) != key(headers={name: "b"}), name
        assert key(headers={name: "a"}) != key(), name
    assert key(headers={"User-Agent": "a", "X-Trace": "1"}) == key(headers={"X-Trace": "2"})
    assert key(headers={"ACCEPT": "a"}) == key(headers={"accept": "a"})


def test_key_fingerprints_credentials_and_never_holds_them(key_path: str) -> None:
    for name in ("Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"):
        alice = key(headers={name: "secret-alice"})
        assert alice == key(headers={name: "secret-alice"})
        assert alice != key(headers={name: "secret-bob"}), name
        assert alice != key(), name
        assert "secret-alice" not in repr(alice)
    userinfo = key(url="http://alice:pw-secret@api.test/items/1")
    assert userinfo != key()
    assert userinfo != key(url="http://bob:pw-secret@api.test/items/1")
    assert "pw-secret" not in repr(userinfo)


async def test_key_refuses_bodies_unsafe_methods_and_opt_outs(key_path: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"x"

    assert key("POST") is None
    assert key("GET", content=b"x") is None
    assert key("GET", content=body()) is None
    assert key("GET", extensions={"dedup": False}) is None
    assert key("GET", extensions={"stream": True}) is None
    assert key("GET", extensions={"dedup": True}) is not None
    with pytest.raises(ConfigError) as info:
        key("GET", extensions={"dedup": "no"})
    assert info.value.field == "extensions.dedup"


def test_constructor_checks_its_config() -> None:
    with pytest.raises(TypeError):
        DedupTransport(ScriptedTransport(), {"methods": ["GET"]})  # type: ignore[arg-type]
    transport = DedupTransport(ScriptedTransport(), DedupConfig())
    assert transport.config == DedupConfig()
    assert transport.statistics() == DedupStatistics()


# --- sharing ---------------------------------------------------------------------------


async def test_100_identical_gets_share_one_call_with_independent_responses(key_path: str) -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    body = bytes(range(256)) * 1024  # 256 KiB: replayed in several chunks

    async def script(crowd: Crowd) -> None:
        crowd.start(100)
        pending = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics() == DedupStatistics(
            in_flight_keys=1, followers_waiting=99, leaders=1
        )
        pending.respond(200, headers={"X-Id": "7"}, content=body)

    crowd = await run_crowd(transport, script)
    assert inner.calls == 1
    responses = list(crowd.responses.values())
    assert len(responses) == 100
    assert not crowd.errors
    assert len({id(r) for r in responses}) == 100
    assert all(r.status_code == 200 and r.content == body for r in responses)
    assert all(r.headers["X-Id"] == "7" for r in responses)
    assert sorted(r.extensions["deduplicated"] for r in responses) == [False] + [True] * 99
    responses[0].headers["X-Id"] = "changed"
    assert responses[1].headers["X-Id"] == "7"
    stats = assert_clean(transport)
    assert (stats.shared, stats.leaders) == (99, 1)


async def test_followers_stream_the_body_in_chunks() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    body = b"z" * (200 * 1024)
    sizes: list[int] = []
    async with httpx.AsyncClient(transport=transport) as client:

        async def follower() -> None:
            async with client.stream("GET", URL) as response:
                assert response.extensions["deduplicated"] is True
                sizes.extend([len(chunk) async for chunk in response.aiter_raw()])

        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, URL)
            pending = await inner.next_request()
            tg.start_soon(follower)
            await anyio.wait_all_tasks_blocked()
            pending.respond(200, content=body)
    assert sizes == [16384] * 12 + [8192]
    assert_clean(transport)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}),
        ({"Authorization": "Bearer alice"}, {}),
        ({"Cookie": "session=alice"}, {"Cookie": "session=bob"}),
        ({"Cookie": "session=alice"}, {}),
        ({"X-Api-Key": "alice"}, {"X-Api-Key": "bob"}),
        ({"Accept": "application/json"}, {"Accept": "text/html"}),
        ({"Accept-Language": "en"}, {"Accept-Language": "fr"}),
        ({"Range": "bytes=0-9"}, {}),
        ({"If-None-Match": '"v1"'}, {}),
    ],
)
async def test_different_answer_headers_or_credentials_never_share(
    first: dict[str, str], second: dict[str, str], key_path: str
) -> None:
    gate = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, content=repr(sorted(request.headers.items())).encode())

    inner = ScriptedTransport(handler)
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(3, headers=first)
        crowd.start(3, headers=second)
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics().in_flight_keys == 2
        gate.set()

    crowd = await run_crowd(transport, script)
    assert inner.calls == 2
    bodies = [crowd.responses[i].content for i in range(6)]
    assert len(set(bodies[:3])) == 1
    assert len(set(bodies[3:])) == 1
    assert bodies[0] != bodies[3]
    assert_clean(transport)


async def test_same_credentials_do_share() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    auth = {"Authorization": "Bearer alice", "Cookie": "a=1"}

    async def script(crowd: Crowd) -> None:
        crowd.start(5, headers=auth)
        pending = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        pending.respond(200, content=b"alice's")

    crowd = await run_crowd(transport, script)
    assert inner.calls == 1
    assert {r.content for r in crowd.responses.values()} == {b"alice's"}


async def test_head_is_shared_but_not_with_get() -> None:
    gate = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, headers={"Content-Length": "5"})

    inner = ScriptedTransport(handler)
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(4, "HEAD")
        crowd.start(2, "GET")
        await anyio.wait_all_tasks_blocked()
        gate.set()

    crowd = await run_crowd(transport, script)
    assert inner.calls == 2
    assert [crowd.responses[i].headers["Content-Length"] for i in range(4)] == ["5"] * 4
    assert transport.statistics().shared == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "POST"},
        {"method": "GET", "content": b"payload"},
        {"method": "GET", "extensions": {"dedup": False}},
        {"method": "GET", "extensions": {"stream": True}},
        {"method": "OPTIONS"},
    ],
)
async def test_ineligible_requests_each_make_their_own_call(kwargs: dict[str, object]) -> None:
    gate = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, content=b"ok")

    inner = ScriptedTransport(handler)
    transport = DedupTransport(inner, DedupConfig())
    options = dict(kwargs)
    method = str(options.pop("method"))

    async def script(crowd: Crowd) -> None:
        crowd.start(4, method, URL, **options)
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics().in_flight_keys == 0
        gate.set()

    crowd = await run_crowd(transport, script)
    assert inner.calls == 4
    assert len(crowd.responses) == 4
    assert all("deduplicated" not in r.extensions for r in crowd.responses.values())
    assert transport.statistics() == DedupStatistics()


async def test_streaming_request_body_is_never_shared() -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(200))
    transport = DedupTransport(inner, DedupConfig())

    async def body() -> AsyncIterator[bytes]:
        yield b"chunk"

    async with httpx.AsyncClient(transport=transport) as client:
        await client.request("GET", URL, content=body())
    assert transport.statistics().leaders == 0


async def test_configured_methods_are_respected() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig(methods=frozenset({"OPTIONS"})))

    async def script(crowd: Crowd) -> None:
        crowd.start(3, "OPTIONS")
        crowd.start(1, "GET")
        await anyio.wait_all_tasks_blocked()
        assert inner.in_flight == 2
        for _ in range(2):
            (await inner.next_request()).respond(204)

    crowd = await run_crowd(transport, script)
    assert len(crowd.responses) == 4
    assert transport.statistics().shared == 2


async def test_entry_leaves_the_table_once_the_outcome_is_known() -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(200, content=b"x"))
    transport = DedupTransport(inner, DedupConfig())
    async with httpx.AsyncClient(transport=transport) as client:
        first = await client.get(URL)
        second = await client.get(URL)
    assert inner.calls == 2
    assert first.extensions["deduplicated"] is False
    assert second.extensions["deduplicated"] is False
    stats = assert_clean(transport)
    assert (stats.leaders, stats.shared) == (2, 0)


# --- errors ----------------------------------------------------------------------------


async def test_leader_error_reaches_every_follower() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(10)
        pending = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        pending.fail(httpx.ConnectError("refused", request=pending.request))

    crowd = await run_crowd(transport, script)
    assert inner.calls == 1
    assert not crowd.responses
    errors = list(crowd.errors.values())
    assert len(errors) == 10
    assert all(type(e) is httpx.ConnectError and str(e) == "refused" for e in errors)
    assert len({id(e) for e in errors}) == 10  # each follower raises its own copy
    assert len({id(e.request) for e in errors if isinstance(e, httpx.RequestError)}) == 10
    assert_clean(transport)


class OddError(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(f"odd {code}")


async def test_an_uncopyable_leader_error_is_reraised_as_is() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(3)
        pending = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        pending.fail(OddError(code=3))

    crowd = await run_crowd(transport, script)
    assert [type(e) for e in crowd.errors.values()] == [OddError] * 3
    assert_clean(transport)


async def test_error_while_reading_the_body_reaches_followers_and_closes_the_stream() -> None:
    closed: list[bool] = []

    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"partial"
            raise httpx.ReadError("connection lost")

        async def aclose(self) -> None:
            closed.append(True)

    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(4)
        pending = await inner.next_request()
        await anyio.wait_all_tasks_blocked()
        pending.respond(200, headers={"Content-Length": "100"}, stream=Broken())

    crowd = await run_crowd(transport, script)
    assert [type(e) for e in crowd.errors.values()] == [httpx.ReadError] * 4
    assert closed
    assert_clean(transport)


# --- cancellation ----------------------------------------------------------------------


def caller(pending: PendingRequest) -> int:
    """Which of the crowd's callers sent the request that reached the inner transport."""
    return int(pending.request.extensions["caller"])


async def test_cancelled_leader_hands_over_to_a_follower() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    leaders: list[int] = []

    async def script(crowd: Crowd) -> None:
        crowd.start(5)
        leaders.append(caller(await inner.next_request()))
        await anyio.wait_all_tasks_blocked()
        crowd.scopes[leaders[0]].cancel()  # the leader's caller goes away
        takeover = await inner.next_request()
        leaders.append(caller(takeover))
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics() == DedupStatistics(
            in_flight_keys=1, followers_waiting=3, leaders=2
        )
        takeover.respond(200, content=b"after takeover")

    crowd = await run_crowd(transport, script)
    assert inner.calls == 2
    assert leaders[0] != leaders[1]
    assert sorted(crowd.responses) == sorted(set(range(5)) - {leaders[0]})
    assert {r.content for r in crowd.responses.values()} == {b"after takeover"}
    assert crowd.responses[leaders[1]].extensions["deduplicated"] is False
    assert not crowd.errors
    stats = assert_clean(transport)
    assert stats.shared == 3


async def test_leader_cancelled_as_its_answer_lands_leaves_nobody_hanging() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    leaders: list[int] = []

    async def script(crowd: Crowd) -> None:
        crowd.start(5)
        pending = await inner.next_request()
        leaders.append(caller(pending))
        await anyio.wait_all_tasks_blocked()
        pending.respond(200, content=b"first")
        crowd.scopes[leaders[0]].cancel()  # same loop iteration as the answer
        await anyio.wait_all_tasks_blocked()
        if inner.in_flight:  # the leader saw its cancellation first: a follower took over
            (await inner.next_request()).respond(200, content=b"first")

    crowd = await run_crowd(transport, script)
    assert {r.content for r in crowd.responses.values()} == {b"first"}
    assert set(range(5)) - {leaders[0]} <= set(crowd.responses)
    assert not crowd.errors
    assert_clean(transport)


async def test_cancellation_wrapped_in_an_exception_group_still_hands_over() -> None:
    """Under trio a cancellation can surface inside an exception group (from httpcore)."""
    release = anyio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            try:
                await anyio.sleep_forever()
            except BaseException as exc:
                raise BaseExceptionGroup("connect", [exc]) from None
        await release.wait()
        return httpx.Response(200, content=b"ok")

    transport = DedupTransport(ScriptedTransport(handler), DedupConfig())
    leaders: list[int] = []

    async def script(crowd: Crowd) -> None:
        crowd.start(1)
        await anyio.wait_all_tasks_blocked()
        crowd.start(2)
        await anyio.wait_all_tasks_blocked()
        crowd.scopes[0].cancel()
        await anyio.wait_all_tasks_blocked()
        leaders.append(transport.statistics().leaders)
        release.set()

    crowd = await run_crowd(transport, script)
    assert crowd.scopes[0].cancelled_caught
    assert not crowd.errors
    assert sorted(crowd.responses) == [1, 2]
    assert {r.content for r in crowd.responses.values()} == {b"ok"}
    assert calls == 2
    assert leaders == [2]
    stats = assert_clean(transport)
    assert stats.shared == 1


async def test_every_takeover_leader_cancelled_in_turn() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    leaders: list[int] = []

    async def script(crowd: Crowd) -> None:
        crowd.start(4)
        for _ in range(3):
            leaders.append(caller(await inner.next_request()))
            await anyio.wait_all_tasks_blocked()
            crowd.scopes[leaders[-1]].cancel()
        last = await inner.next_request()
        leaders.append(caller(last))
        last.respond(200, content=b"last one standing")

    crowd = await run_crowd(transport, script)
    assert inner.calls == 4
    assert sorted(leaders) == [0, 1, 2, 3]
    assert list(crowd.responses) == [leaders[-1]]
    assert_clean(transport)


async def test_cancelled_followers_affect_nobody() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    cancelled: list[int] = []

    async def script(crowd: Crowd) -> None:
        crowd.start(6)
        pending = await inner.next_request()
        followers = [i for i in range(6) if i != caller(pending)]
        await anyio.wait_all_tasks_blocked()
        crowd.scopes[followers[0]].cancel()
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics().followers_waiting == 4
        pending.respond(200, content=b"ok")
        crowd.scopes[followers[1]].cancel()  # same loop iteration as the answer
        cancelled.extend(followers[:2])

    crowd = await run_crowd(transport, script)
    assert inner.calls == 1
    assert set(range(6)) - set(cancelled) <= set(crowd.responses)
    assert cancelled[0] not in crowd.responses
    assert {r.content for r in crowd.responses.values()} == {b"ok"}
    assert_clean(transport)


async def test_follower_budget_runs_out_while_the_leader_goes_on() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig(), clock=clock)

    async def script(crowd: Crowd) -> None:
        crowd.start(1)
        pending = await inner.next_request()
        # Deadlines fixed above (a configured budget): not part of the key.
        crowd.start(1, extensions={DEADLINE: clock.now() + 2.0})
        crowd.start(1, extensions={DEADLINE: clock.now() + 10.0})
        await anyio.wait_all_tasks_blocked()
        clock.advance(3.0)
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics().followers_waiting == 1
        pending.respond(200, content=b"late")

    crowd = await run_crowd(transport, script)
    assert isinstance(crowd.errors[1], TimeoutBudgetExceeded)
    assert crowd.responses[0].content == crowd.responses[2].content == b"late"
    assert clock.sleepers == 0
    assert_clean(transport)


async def test_follower_with_spent_budget_fails_at_once() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig(), clock=clock)

    async def script(crowd: Crowd) -> None:
        crowd.start(1)
        pending = await inner.next_request()
        request = crowd.client.build_request("GET", URL, extensions={DEADLINE: clock.now() - 1})
        with pytest.raises(TimeoutBudgetExceeded):
            await transport.handle_async_request(request)
        pending.respond(200)

    await run_crowd(transport, script)
    assert_clean(transport)


# --- not shared ------------------------------------------------------------------------


class Chunked(httpx.AsyncByteStream):
    """A response body that arrives in several chunks, as from the network."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def test_body_over_the_cap_goes_whole_to_every_caller() -> None:
    chunks = [bytes([i]) * 600 for i in range(5)]
    body = b"".join(chunks)  # 3,000 bytes
    release = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, stream=Chunked(chunks))

    inner = ScriptedTransport(handler)
    transport = DedupTransport(inner, DedupConfig(max_body_bytes=1000))

    async def script(crowd: Crowd) -> None:
        crowd.start(5)
        await anyio.wait_all_tasks_blocked()
        assert inner.calls == 1
        release.set()

    crowd = await run_crowd(transport, script)
    assert inner.calls == 5  # the leader, then each follower on its own
    assert [crowd.responses[i].content for i in range(5)] == [body] * 5
    assert all(r.extensions["deduplicated"] is False for r in crowd.responses.values())
    stats = assert_clean(transport)
    assert (stats.shared, stats.leaders) == (0, 1)


async def test_leader_streams_a_body_over_the_cap_without_losing_bytes() -> None:
    chunks = [b"a" * 700, b"b" * 700, b"c" * 700]
    inner = ScriptedTransport(lambda request: httpx.Response(200, stream=Chunked(chunks)))
    transport = DedupTransport(inner, DedupConfig(max_body_bytes=1000))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert response.content == b"".join(chunks)


@pytest.mark.parametrize(
    ("response_headers", "follower_headers", "shared"),
    [
        ({"Set-Cookie": "session=new"}, {}, False),
        ({"Vary": "X-Tenant"}, {"X-Tenant": "b"}, False),
        ({"Vary": "X-Tenant"}, {"X-Tenant": "a"}, True),
        ({"Vary": "Accept-Encoding, X-Tenant"}, {"X-Tenant": "a"}, True),
        ({"Vary": "*"}, {"X-Tenant": "a"}, False),
    ],
)
async def test_set_cookie_and_vary_limit_sharing(
    response_headers: dict[str, str], follower_headers: dict[str, str], shared: bool
) -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())

    async def script(crowd: Crowd) -> None:
        crowd.start(1, headers={"X-Tenant": "a"})
        pending = await inner.next_request()
        crowd.start(1, headers=follower_headers)
        await anyio.wait_all_tasks_blocked()
        pending.respond(200, headers=response_headers, content=b"for a")
        if not shared:
            (await inner.next_request()).respond(200, content=b"own")

    crowd = await run_crowd(transport, script)
    assert crowd.responses[1].content == (b"for a" if shared else b"own")
    assert crowd.responses[1].extensions["deduplicated"] is shared
    assert inner.calls == (1 if shared else 2)
    assert_clean(transport)


async def test_followers_copy_exchange_facts_but_not_the_leaders_own() -> None:
    inner = ScriptedTransport()
    transport = DedupTransport(inner, DedupConfig())
    leader_extensions = {
        "http_version": b"HTTP/1.1",
        "reason_phrase": b"Fine",
        "attempts": 3,
        "network_stream": object(),
    }

    async def script(crowd: Crowd) -> None:
        crowd.start(1)
        pending = await inner.next_request()
        crowd.start(1)
        await anyio.wait_all_tasks_blocked()
        pending.respond_with(httpx.Response(200, content=b"x", extensions=leader_extensions))

    crowd = await run_crowd(transport, script)
    leader, follower = crowd.responses[0], crowd.responses[1]
    assert leader.extensions["attempts"] == 3
    assert follower.reason_phrase == "Fine"
    assert follower.http_version == "HTTP/1.1"
    assert follower.extensions["deduplicated"] is True
    assert "attempts" not in follower.extensions
    assert "network_stream" not in follower.extensions
    assert follower.request is not leader.request


async def test_aclose_and_context_are_forwarded_once() -> None:
    inner = ScriptedTransport()
    async with DedupTransport(inner, DedupConfig()) as transport:
        assert isinstance(transport, DedupTransport)
    assert (inner.entered, inner.exited, inner.closed) == (1, 1, 1)
