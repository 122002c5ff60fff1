"""TokenAuth: refresh before expiry, single flight, 401 retry, secrecy, redirects."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from httpx_resilient._auth import Token, TokenAuth
from httpx_resilient._core.errors import ConfigError
from httpx_resilient.testing import FakeClock
from tests.loopback import LoopbackServer, Reply, Seen

pytestmark = pytest.mark.anyio

SENTINEL = "s3cr3t-sentinel-token"


class Provider:
    """Hands out tokens t1, t2, ...; can be held at a gate or made to fail."""

    def __init__(self, expires_in: float | None = 3600.0) -> None:
        self.calls = 0
        self.expires_in = expires_in
        self.gate: anyio.Event | None = None
        self.started = anyio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self) -> Token:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return Token(f"t{self.calls}", self.expires_in)


def recording() -> tuple[list[str | None], httpx.MockTransport]:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200)

    return seen, httpx.MockTransport(handler)


def client(auth: TokenAuth, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=auth, transport=transport, base_url="https://api.example")


async def test_token_is_fetched_once_and_refreshed_before_expiry() -> None:
    clock = FakeClock()
    provider = Provider(expires_in=3600)
    seen, transport = recording()
    async with client(TokenAuth(provider, clock=clock), transport) as c:
        await c.get("/a")
        clock.advance(3539.9)
        await c.get("/b")
        assert provider.calls == 1
        clock.advance(0.1)  # expires_in - refresh_margin
        await c.get("/c")
        await c.get("/d")
    assert seen == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2"]
    assert provider.calls == 2


async def test_expiry_is_measured_from_the_start_of_the_refresh() -> None:
    clock = FakeClock()
    provider = Provider(expires_in=100)
    provider.gate = anyio.Event()
    auth = TokenAuth(provider, refresh_margin=10, clock=clock)
    seen, transport = recording()
    async with client(auth, transport) as c:
        async with anyio.create_task_group() as tg:
            tg.start_soon(c.get, "/a")
            await provider.started.wait()
            clock.advance(30)  # the token endpoint was slow
            provider.gate.set()
        clock.advance(59.9)  # 89.9 s after the refresh started
        await c.get("/b")
        assert provider.calls == 1
        clock.advance(0.1)
        await c.get("/c")
    assert seen == ["Bearer t1", "Bearer t1", "Bearer t2"]


async def test_short_lived_token_uses_half_its_lifetime_as_margin() -> None:
    clock = FakeClock()
    provider = Provider(expires_in=30)  # shorter than the 60 s margin
    seen, transport = recording()
    async with client(TokenAuth(provider, clock=clock), transport) as c:
        await c.get("/")
        clock.advance(14.9)
        await c.get("/")
        clock.advance(0.1)
        await c.get("/")
    assert seen == ["Bearer t1", "Bearer t1", "Bearer t2"]


async def test_token_without_expiry_is_kept_until_a_401() -> None:
    clock = FakeClock()
    provider = Provider(expires_in=None)
    seen, transport = recording()
    async with client(TokenAuth(provider, clock=clock, scheme="Token"), transport) as c:
        await c.get("/")
        clock.advance(10**9)
        await c.get("/")
    assert seen == ["Token t1", "Token t1"]
    assert provider.calls == 1


async def test_empty_scheme_sends_the_bare_token() -> None:
    seen, transport = recording()
    async with client(TokenAuth(Provider(), scheme=""), transport) as c:
        await c.get("/")
    assert seen == ["t1"]


async def test_fifty_concurrent_requests_share_one_refresh() -> None:
    provider = Provider()
    provider.gate = anyio.Event()
    seen, transport = recording()
    auth = TokenAuth(provider, clock=FakeClock())
    async with client(auth, transport) as c, anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(c.get, f"/items/{i}")
        await anyio.wait_all_tasks_blocked()
        assert provider.calls == 1
        provider.gate.set()
    assert provider.calls == 1
    assert auth.refreshes == 1
    assert seen == ["Bearer t1"] * 50


async def test_fifty_concurrent_401s_refresh_once_and_each_retries_once() -> None:
    provider = Provider()
    arrived = 0
    all_arrived = anyio.Event()
    sent: dict[str, list[str]] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        sent.setdefault(request.url.path, []).append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer t1":
            arrived += 1
            if arrived == 50:
                all_arrived.set()
            await all_arrived.wait()  # every request holds a 401 for the same token
            return httpx.Response(401)
        return httpx.Response(200)

    auth = TokenAuth(provider, clock=FakeClock())
    statuses: list[int] = []

    async def call(c: httpx.AsyncClient, i: int) -> None:
        statuses.append((await c.get(f"/items/{i}")).status_code)

    async with client(auth, httpx.MockTransport(handler)) as c, anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(call, c, i)
    assert provider.calls == 2
    assert statuses == [200] * 50
    assert sent == {f"/items/{i}": ["Bearer t1", "Bearer t2"] for i in range(50)}


async def test_401_after_a_newer_token_exists_does_not_refresh_again() -> None:
    provider = Provider()
    auth = TokenAuth(provider)
    flows = [auth.async_auth_flow(httpx.Request("GET", f"https://api.example/{i}")) for i in (1, 2)]
    sent = [await flow.__anext__() for flow in flows]
    assert [r.headers["Authorization"] for r in sent] == ["Bearer t1", "Bearer t1"]
    retried = await flows[0].asend(httpx.Response(401, request=sent[0]))
    assert retried.headers["Authorization"] == "Bearer t2"
    assert provider.calls == 2
    # The second 401 arrives after the refresh it would have asked for: no new refresh.
    retried = await flows[1].asend(httpx.Response(401, request=sent[1]))
    assert retried.headers["Authorization"] == "Bearer t2"
    assert provider.calls == 2
    for flow in flows:
        with pytest.raises(StopAsyncIteration):
            await flow.asend(httpx.Response(200))


async def test_a_second_401_is_returned_not_retried_again() -> None:
    provider = Provider()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401)

    async with client(TokenAuth(provider), httpx.MockTransport(handler)) as c:
        response = await c.get("/")
    assert response.status_code == 401
    assert calls == 2
    assert provider.calls == 2
    assert len(response.history) == 1


async def test_401_to_a_streamed_body_is_not_resent_but_the_token_is_replaced() -> None:
    provider = Provider()
    seen: list[str] = []

    class Unbuffered(httpx.AsyncBaseTransport):
        """Like a network transport: the body stream is consumed, not kept."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.headers["Authorization"])
            async for _ in request.stream:  # type: ignore[union-attr]
                pass
            return httpx.Response(401 if len(seen) == 1 else 200)

    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    async with client(TokenAuth(provider), Unbuffered()) as c:
        assert (await c.post("/upload", content=body())).status_code == 401
        assert (await c.post("/upload", content=b"bytes")).status_code == 200
    assert seen == ["Bearer t1", "Bearer t2"]


async def test_401_with_a_replayable_body_resends_the_body() -> None:
    provider = Provider()
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(401 if len(bodies) == 1 else 201)

    async with client(TokenAuth(provider), httpx.MockTransport(handler)) as c:
        assert (await c.post("/items", json={"a": 1})).status_code == 201
    assert bodies == [b'{"a":1}', b'{"a":1}']


async def test_refresh_failure_reaches_every_waiter_and_the_next_call_retries() -> None:
    provider = Provider()
    provider.gate = anyio.Event()
    provider.fail_with = RuntimeError("token endpoint down")
    seen, transport = recording()
    errors: list[BaseException] = []

    async def call(c: httpx.AsyncClient) -> None:
        try:
            await c.get("/")
        except RuntimeError as exc:
            errors.append(exc)

    auth = TokenAuth(provider)
    async with client(auth, transport) as c:
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(call, c)
            await anyio.wait_all_tasks_blocked()
            provider.gate.set()
        assert provider.calls == 1
        assert len(errors) == 50
        assert all(e is provider.fail_with for e in errors)
        assert seen == []
        provider.fail_with = None
        assert (await c.get("/")).status_code == 200
    assert provider.calls == 2
    assert seen == ["Bearer t2"]
    assert auth.refreshes == 1


async def test_provider_returning_the_wrong_type_fails_clearly() -> None:
    async def provider() -> Token:
        return SENTINEL  # type: ignore[return-value]

    _, transport = recording()
    async with client(TokenAuth(provider), transport) as c:
        with pytest.raises(TypeError, match="returned str, not Token") as info:
            await c.get("/")
    assert SENTINEL not in str(info.value)


async def test_cancelling_the_refreshing_request_hands_the_refresh_to_a_waiter() -> None:
    provider = Provider()
    provider.gate = anyio.Event()
    seen, transport = recording()
    results: list[int] = []

    async def waiter(c: httpx.AsyncClient) -> None:
        results.append((await c.get("/")).status_code)

    with anyio.fail_after(5):
        async with client(TokenAuth(provider), transport) as c, anyio.create_task_group() as tg:
            refresher = anyio.CancelScope()

            async def first() -> None:
                with refresher:
                    await c.get("/")

            tg.start_soon(first)
            await provider.started.wait()  # first() is inside the provider
            provider.started = anyio.Event()
            tg.start_soon(waiter, c)
            tg.start_soon(waiter, c)
            await anyio.wait_all_tasks_blocked()
            assert provider.calls == 1
            refresher.cancel()
            await provider.started.wait()  # one waiter took over the refresh
            assert provider.calls == 2
            provider.gate.set()
    assert results == [200, 200]
    assert provider.calls == 2
    assert seen == ["Bearer t2", "Bearer t2"]


async def test_cancelled_waiter_leaves_the_refresh_alone() -> None:
    provider = Provider()
    provider.gate = anyio.Event()
    seen, transport = recording()
    async with client(TokenAuth(provider), transport) as c, anyio.create_task_group() as tg:
        tg.start_soon(c.get, "/first")
        await provider.started.wait()
        scope = anyio.CancelScope()

        async def cancelled_waiter() -> None:
            with scope:
                await c.get("/cancelled")

        tg.start_soon(cancelled_waiter)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        provider.gate.set()
    assert provider.calls == 1
    assert seen == ["Bearer t1"]


async def test_token_never_in_repr_str_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = Token(SENTINEL, 10)
    auth_calls = 0

    async def provider() -> Token:
        nonlocal auth_calls
        auth_calls += 1
        if auth_calls == 2:
            raise RuntimeError("refresh failed")
        return token

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    auth = TokenAuth(provider)
    assert SENTINEL not in repr(auth)
    async with client(auth, httpx.MockTransport(handler)) as c:
        with pytest.raises(RuntimeError):
            await c.get("/")  # 401 -> the refresh fails
        response = await c.get("/")  # t again, 401, refresh (3rd) -> 401 returned
        request = response.request
    for text in (repr(token), str(token), repr(auth), str(auth), repr(request.headers)):
        assert SENTINEL not in text
    assert "token=<set>" in repr(auth)
    assert caplog.records, "the refresh events are logged"
    for record in caplog.records:
        assert SENTINEL not in record.getMessage()
        assert SENTINEL not in repr(record.__dict__)
    assert SENTINEL not in caplog.text


def test_token_validation_never_echoes_the_token() -> None:
    with pytest.raises(ConfigError) as info:
        Token("", 10)
    assert info.value.field == "Token.access_token"
    with pytest.raises(ConfigError) as info:
        Token(SENTINEL + "\r\nX-Injected: 1", 10)
    assert SENTINEL not in str(info.value)
    for bad in (-1, float("nan"), float("inf"), "10", True):
        with pytest.raises(ConfigError) as info:
            Token(SENTINEL, bad)  # type: ignore[arg-type]
        assert info.value.field == "Token.expires_in"
        assert SENTINEL not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"refresh_margin": -1}, "TokenAuth.refresh_margin"),
        ({"refresh_margin": float("inf")}, "TokenAuth.refresh_margin"),
        ({"refresh_margin": "60"}, "TokenAuth.refresh_margin"),
        ({"scheme": "Bear er"}, "TokenAuth.scheme"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        TokenAuth(Provider(), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_provider_must_be_callable() -> None:
    with pytest.raises(ConfigError) as info:
        TokenAuth("not callable")  # type: ignore[arg-type]
    assert info.value.field == "TokenAuth.provider"


def test_sync_client_is_refused_clearly() -> None:
    with (
        httpx.Client(
            auth=TokenAuth(Provider()), transport=httpx.MockTransport(lambda r: httpx.Response(200))
        ) as c,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        c.get("https://api.example/")


def redirecting(
    target: str, final_status: int = 200
) -> tuple[dict[str, list[str | None]], httpx.MockTransport]:
    seen: dict[str, list[str | None]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.setdefault(f"{request.url.host}{request.url.path}", []).append(
            request.headers.get("Authorization")
        )
        if request.url.path == "/start":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(final_status)

    return seen, httpx.MockTransport(handler)


async def test_no_credentials_on_a_cross_origin_redirect() -> None:
    provider = Provider()
    seen, transport = redirecting("https://elsewhere.example/landing")
    async with client(TokenAuth(provider), transport) as c:
        response = await c.get("/start", follow_redirects=True)
    assert response.status_code == 200
    assert seen == {"api.example/start": ["Bearer t1"], "elsewhere.example/landing": [None]}


async def test_credentials_kept_on_a_same_origin_redirect() -> None:
    seen, transport = redirecting("/landing")
    async with client(TokenAuth(Provider()), transport) as c:
        await c.get("/start", follow_redirects=True)
    assert seen == {"api.example/start": ["Bearer t1"], "api.example/landing": ["Bearer t1"]}


async def test_a_401_from_another_origin_does_not_spend_a_refresh() -> None:
    provider = Provider()
    seen, transport = redirecting("https://elsewhere.example/landing", final_status=401)
    async with client(TokenAuth(provider), transport) as c:
        response = await c.get("/start", follow_redirects=True)
    assert response.status_code == 401
    assert provider.calls == 1
    assert seen["elsewhere.example/landing"] == [None]


@pytest.mark.integration
async def test_cross_origin_redirect_on_the_loopback_server(server: LoopbackServer) -> None:
    # 127.0.0.1 and localhost are different origins on the same server.
    other = server.url.replace("127.0.0.1", "localhost")
    server.route("/start", lambda seen: Reply(302, {"Location": f"{other}/landing"}))
    server.route("/same", lambda seen: Reply(302, {"Location": "/landing"}))
    landing: list[str | None] = []

    def land(seen: Seen) -> Reply:
        landing.append(seen.headers.get("Authorization"))
        return Reply(200, {}, b"ok")

    server.route("/landing", land)
    async with httpx.AsyncClient(
        auth=TokenAuth(Provider()), base_url=server.url, follow_redirects=True
    ) as c:
        assert (await c.get("/start")).text == "ok"
        assert (await c.get("/same")).text == "ok"
    assert landing == [None, "Bearer t1"]
