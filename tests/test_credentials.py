"""Credentials in any header: never shared by the cache or dedup, never shown in logs.

A header is a credential when its name is a built-in one, contains ``token``, ``key``,
``secret``, ``auth``, ``session``, ``signature`` or ``password``, or is named in
``CacheConfig`` / ``DedupConfig(credential_headers=...)``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.memory import MemoryStorage
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient._core.credentials import credential_names, is_credential
from httpx_resilient._core.errors import ConfigError
from httpx_resilient._core.redact import REDACTED, redact_headers, scrub
from httpx_resilient._dedup.config import DedupConfig
from httpx_resilient._dedup.transport import DedupTransport
from httpx_resilient.testing import FakeClock

pytestmark = pytest.mark.anyio

URL = "http://api.test/account"
UNLISTED = ["X-Goog-Api-Key", "PRIVATE-TOKEN", "Ocp-Apim-Subscription-Key"]
CUSTOM = "X-Tenant"  # matches no part: a credential only when configured


def echo(name: str) -> httpx.MockTransport:
    """Answers with the caller's value of ``name`` (or "anonymous"), cacheable by all."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.headers.get(name, "anonymous")
        return httpx.Response(200, headers={"Cache-Control": "public, max-age=600"}, text=body)

    return httpx.MockTransport(handler)


def test_the_rule() -> None:
    for name in [*UNLISTED, "Authorization", "Cookie", "X-Session-Id", "X-Signature", "key"]:
        assert is_credential(name), name
        assert is_credential(name.lower().encode()), name
    for name in ["Accept", "Accept-Language", "Keep-Alive", "X-Request-Id", CUSTOM]:
        assert not is_credential(name), name


@pytest.mark.parametrize("name", [*UNLISTED, CUSTOM])
@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_cache_never_serves_one_callers_response_to_another(
    name: str, shared: bool, kind: str, tmp_path: Path
) -> None:
    storage = MemoryStorage() if kind == "memory" else SQLiteStorage(tmp_path / "cache.db")
    extra = frozenset({CUSTOM}) if name == CUSTOM else frozenset()
    config = CacheConfig(storage=storage, shared=shared, credential_headers=extra)
    transport = CacheTransport(echo(name), config, clock=FakeClock())
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(URL, headers={name: "alice-secret"})
        alice_again = await client.get(URL, headers={name: "alice-secret"})
        bob = await client.get(URL, headers={name: "bob-secret"})
        anonymous = await client.get(URL)
    assert alice_again.extensions["from_cache"] is True  # the control: it does cache
    assert (alice_again.text, bob.text, anonymous.text) == (
        "alice-secret",
        "bob-secret",
        "anonymous",
    )
    assert bob.extensions["from_cache"] is False
    assert anonymous.extensions["from_cache"] is False


async def test_an_unconfigured_custom_header_is_not_a_credential() -> None:
    """The control for the custom name: without the setting the cache does share."""
    transport = CacheTransport(echo(CUSTOM), CacheConfig(), clock=FakeClock())
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(URL, headers={CUSTOM: "alice"})
        bob = await client.get(URL, headers={CUSTOM: "bob"})
    assert bob.extensions["from_cache"] is True


@pytest.mark.parametrize("name", [*UNLISTED, CUSTOM])
@pytest.mark.parametrize("same", [False, True], ids=["different", "same"])
async def test_dedup_never_shares_between_callers_with_different_values(
    name: str, same: bool
) -> None:
    gate = anyio.Event()
    arrivals: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(request.headers[name])
        await gate.wait()
        return httpx.Response(200, text=request.headers[name])

    extra = frozenset({CUSTOM}) if name == CUSTOM else frozenset()
    transport = DedupTransport(httpx.MockTransport(handler), DedupConfig(credential_headers=extra))
    values = ["alice-secret", "alice-secret" if same else "bob-secret"]
    bodies: dict[int, str] = {}

    async def call(index: int) -> None:
        response = await transport.handle_async_request(
            httpx.Request("GET", URL, headers={name: values[index]})
        )
        bodies[index] = (await response.aread()).decode()

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, 0)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(call, 1)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert len(arrivals) == (1 if same else 2)
    assert bodies == {0: values[0], 1: values[1]}


def test_redaction_uses_the_same_rule() -> None:
    headers = {name: f"{name}-value-secret" for name in UNLISTED}
    headers["Accept"] = "text/html"
    shown = redact_headers(headers)
    assert all(shown[name.lower()] == REDACTED for name in UNLISTED)
    assert shown["accept"] == "text/html"
    request = httpx.Request("GET", URL, headers=headers)
    text = scrub(f"failed with {' '.join(headers.values())}", request)
    assert "value-secret" not in text
    assert "text/html" in text


@pytest.mark.parametrize("build", [CacheConfig, DedupConfig])
@pytest.mark.parametrize("value", ["X-Tenant", [""], ["Bad Name"], [42]])
def test_credential_headers_are_validated(build: type, value: object) -> None:
    with pytest.raises(ConfigError) as raised:
        build(credential_headers=value)
    assert raised.value.field == f"{build.__name__}.credential_headers"


def test_credential_headers_are_lower_cased() -> None:
    assert CacheConfig(credential_headers=frozenset({"X-Tenant"})).credential_headers == {
        "x-tenant"
    }
    assert credential_names("DedupConfig", ("A", "a")) == frozenset({"a"})
