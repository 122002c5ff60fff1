"""Cross-credential matrix: one identity's stored response is never served to another."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.memory import MemoryStorage
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient.testing import FakeClock

pytestmark = pytest.mark.anyio

URL = "http://api.test/account"

#: identity label -> request headers carrying its credentials
IDENTITIES: dict[str, dict[str, str]] = {
    "anonymous": {},
    "alice": {"Authorization": "Bearer alice-secret-token"},
    "bob": {"Authorization": "Bearer bob-secret-token"},
    "cookie-1": {"Cookie": "session=cookie-one-secret"},
    "cookie-2": {"Cookie": "session=cookie-two-secret"},
    "alice+cookie": {"Authorization": "Bearer alice-secret-token", "Cookie": "x=carol-secret"},
    "proxy-user": {"Proxy-Authorization": "Basic cHJveHktc2VjcmV0"},
    "api-key-1": {"X-API-Key": "api-key-one-secret"},
    "api-key-2": {"X-API-Key": "api-key-two-secret"},
}
SECRETS = [
    "alice-secret-token",
    "bob-secret-token",
    "cookie-one-secret",
    "cookie-two-secret",
    "carol-secret",
    "cHJveHktc2VjcmV0",
    "api-key-one-secret",
    "api-key-two-secret",
]
DIRECTIVES = [
    "max-age=600",
    "public, max-age=600",
    "private, max-age=600",
    "s-maxage=600",
    "max-age=600, must-revalidate",
    "no-cache",  # stored, revalidated with an ETag
]


def identify(request: httpx.Request) -> str:
    wanted = {k.lower(): v for k, v in request.headers.items() if k.lower() in _CREDENTIALS}
    for label, headers in IDENTITIES.items():
        if {k.lower(): v for k, v in headers.items()} == wanted:
            return label
    raise AssertionError(f"unknown identity {sorted(wanted)}")


_CREDENTIALS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}


def upstream(cache_control: str, vary: str | None = None) -> httpx.MockTransport:
    """Answers with the caller's identity; 304 to any If-None-Match (same tag for all)."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Cache-Control": cache_control, "ETag": '"same-for-everyone"'}
        if vary:
            headers["Vary"] = vary
        if request.headers.get("if-none-match") == '"same-for-everyone"':
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers=headers, content=identify(request).encode())

    return httpx.MockTransport(handler)


async def leaks_for(config: CacheConfig, cache_control: str, vary: str | None = None) -> list[str]:
    """Every ordered pair of identities: the second must get its own answer."""
    leaks = []
    for first, second in itertools.permutations(IDENTITIES, 2):
        transport = CacheTransport(upstream(cache_control, vary), config, clock=FakeClock())
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(URL, headers=IDENTITIES[first])
            again = await client.get(URL, headers=IDENTITIES[first])
            assert again.text == first
            got = await client.get(URL, headers=IDENTITIES[second])
        if got.text != second:
            leaks.append(f"{first} -> {second} ({cache_control}, vary={vary})")
    return leaks


@pytest.mark.parametrize("cache_control", DIRECTIVES)
@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
async def test_no_leak_between_identities(cache_control: str, shared: bool) -> None:
    leaks = await leaks_for(CacheConfig(shared=shared), cache_control)
    leaks += await leaks_for(CacheConfig(shared=shared), cache_control, vary="Accept")
    assert leaks == []


async def test_no_leak_with_vary_on_credentials() -> None:
    for vary in ("Cookie", "Authorization", "Cookie, Authorization"):
        assert await leaks_for(CacheConfig(), "max-age=600", vary=vary) == []


async def test_alice_then_anonymous_then_bob_explicitly() -> None:
    transport = CacheTransport(upstream("public, max-age=600"), CacheConfig(), clock=FakeClock())
    async with httpx.AsyncClient(transport=transport) as client:
        alice = await client.get(URL, headers=IDENTITIES["alice"])
        anonymous = await client.get(URL)
        bob = await client.get(URL, headers=IDENTITIES["bob"])
        alice_again = await client.get(URL, headers=IDENTITIES["alice"])
    assert (alice.text, anonymous.text, bob.text) == ("alice", "anonymous", "bob")
    assert [r.extensions["from_cache"] for r in (alice, anonymous, bob)] == [False] * 3
    assert alice_again.extensions["from_cache"] is True
    assert alice_again.text == "alice"


async def test_shared_cache_does_not_store_authorized_responses_by_default() -> None:
    transport = CacheTransport(upstream("max-age=600"), CacheConfig(shared=True), clock=FakeClock())
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(2):
            await client.get(URL, headers=IDENTITIES["alice"])
        await client.get(URL, headers=IDENTITIES["cookie-1"])  # no Authorization: storable
    assert transport.statistics().stores == 1
    assert transport.statistics().hits == 0


async def test_private_responses_are_not_stored_when_shared() -> None:
    transport = CacheTransport(
        upstream("private, max-age=600"), CacheConfig(shared=True), clock=FakeClock()
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(2):
            await client.get(URL)
    assert transport.statistics().stores == 0


async def test_memory_entries_hold_no_credentials(caplog: pytest.LogCaptureFixture) -> None:
    storage = MemoryStorage()
    config = CacheConfig(storage=storage)
    with caplog.at_level(logging.DEBUG, logger="httpx_resilient"):
        for vary in (None, "Cookie, Authorization, Proxy-Authorization"):
            transport = CacheTransport(upstream("max-age=600", vary), config, clock=FakeClock())
            async with httpx.AsyncClient(transport=transport) as client:
                for headers in IDENTITIES.values():
                    await client.get(URL, headers=headers)
    entries = storage.entries()
    assert len(entries) == len(IDENTITIES)
    dump = repr([(e.key, e.variant, e.url_key, e.vary, e.headers, e.body) for e in entries])
    for secret in SECRETS:
        assert secret not in dump
        assert secret not in caplog.text
    for entry in entries:
        names = {name.lower() for name, _ in entry.headers}
        assert not names & {b"authorization", b"cookie", b"proxy-authorization", b"set-cookie"}


async def test_sqlite_file_holds_no_credentials(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    storage = SQLiteStorage(path)
    transport = CacheTransport(
        upstream("max-age=600", "Cookie"), CacheConfig(storage=storage), clock=FakeClock()
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for headers in IDENTITIES.values():
            await client.get(URL, headers=headers)
        for label, headers in IDENTITIES.items():
            hit = await client.get(URL, headers=headers)
            assert hit.text == label
            assert hit.extensions["from_cache"] is True
    await storage.aclose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in SECRETS:
        assert secret.encode() not in raw
    assert b"api.test" not in raw  # URLs are stored as keyed hashes only


async def test_set_cookie_is_never_replayed_to_the_next_caller() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Cache-Control": "public, max-age=600", "Set-Cookie": "session=fresh-secret"},
            content=b"page",
        )

    transport = CacheTransport(httpx.MockTransport(handler), CacheConfig(), clock=FakeClock())
    # Through the transport: a client's cookie jar would send the cookie back.
    first = await transport.handle_async_request(httpx.Request("GET", URL))
    second = await transport.handle_async_request(httpx.Request("GET", URL))
    assert first.headers["set-cookie"] == "session=fresh-secret"
    assert second.extensions["from_cache"] is True
    assert "set-cookie" not in second.headers
