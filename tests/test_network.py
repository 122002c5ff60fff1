"""Client settings that ``transport=`` makes httpx ignore reach the stack's inner
transport: TLS verification, proxies (explicit and from the environment, with
``NO_PROXY``), pool limits; and the facade's defaults (queue ceiling, pool timeout).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme

from httpx_resilient import (
    ConfigError,
    QueueConfig,
    RateLimitedAPIClient,
    ResilientTransport,
    RetryConfig,
)
from httpx_resilient._network import ProxyRouter
from httpx_resilient._queue.transport import PriorityQueueTransport
from tests.loopback import LoopbackServer

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_url(ca: trustme.CA) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate no system store trusts."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secure")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def assert_certificate_refused(exc: BaseException) -> None:
    """The chain of causes holds the TLS verification failure (trio's message is empty)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return
        seen = seen.__cause__ or seen.__context__
    raise AssertionError(f"no certificate verification error behind {exc!r}")


@pytest.mark.integration
async def test_verify_false_reaches_the_inner_transport(tls_url: str) -> None:
    async with httpx.AsyncClient(transport=ResilientTransport(verify=False)) as client:
        assert (await client.get(tls_url)).text == "secure"
    # The trap this closes: httpx ignores the client's verify= when transport= is given.
    async with httpx.AsyncClient(verify=False, transport=ResilientTransport()) as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(tls_url)
        assert_certificate_refused(info.value)


@pytest.mark.integration
async def test_verify_true_refuses_and_a_trusted_context_accepts(
    tls_url: str, ca: trustme.CA
) -> None:
    async with httpx.AsyncClient(transport=ResilientTransport(verify=True)) as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(tls_url)
        assert_certificate_refused(info.value)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with RateLimitedAPIClient(tls_url, verify=context) as client:
        assert (await client.get("/")).text == "secure"


@pytest.mark.integration
async def test_environment_proxy_is_used_and_passes_through_the_stack(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the loopback server plays the proxy
    transport = ResilientTransport(retry=RetryConfig(max_retries=0))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://proxied.invalid/a")
    assert response.text == "GET /a"
    assert server.log[0].headers["Host"] == "proxied.invalid"  # absolute-form, via proxy
    assert transport.get_metrics().total_requests == 1  # counted by the stack


@pytest.mark.integration
async def test_no_proxy_and_trust_env_false_go_direct(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # nothing listens there
    async with httpx.AsyncClient(transport=ResilientTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url + "/via-dead-proxy")
    async with httpx.AsyncClient(transport=ResilientTransport(trust_env=False)) as client:
        assert (await client.get(server.url + "/direct")).status_code == 200
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with httpx.AsyncClient(transport=ResilientTransport()) as client:
        assert (await client.get(server.url + "/excluded")).status_code == 200
    assert [seen.path for seen in server.log] == ["/direct", "/excluded"]


def test_routing_follows_httpx_for_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy:8080")
    monkeypatch.setenv("ALL_PROXY", "http://any-proxy:8080")
    monkeypatch.setenv("NO_PROXY", "internal.example,.corp.example")
    router = ResilientTransport().inner
    assert isinstance(router, ProxyRouter)

    def proxy_of(url: str) -> str | None:
        chosen = router.transport_for_url(httpx.URL(url))
        if chosen is router.default:
            return None
        return str(chosen._pool._proxy_url.host.decode())  # type: ignore[attr-defined]

    assert proxy_of("https://api.example/") == "secure-proxy"
    assert proxy_of("http://api.example/") == "any-proxy"
    assert proxy_of("https://internal.example/") is None
    assert proxy_of("https://www.corp.example/") is None


@pytest.mark.integration
async def test_client_proxy_goes_to_the_stack_not_to_httpx(server: LoopbackServer) -> None:
    async with RateLimitedAPIClient(proxy=server.url, trust_env=False) as client:
        assert client._mounts == {}  # httpx would mount a proxy that bypasses the stack
        response = await client.get("http://through-proxy.invalid/p")
    assert response.text == "GET /p"
    assert server.log[0].headers["Host"] == "through-proxy.invalid"
    assert client.get_metrics().total_requests == 1


def test_network_settings_with_inner_are_refused_by_name() -> None:
    inner = httpx.MockTransport(lambda request: httpx.Response(200))
    for name, value in [
        ("verify", False),
        ("cert", "client.pem"),
        ("http2", True),
        ("limits", httpx.Limits(max_connections=1)),
        ("proxy", "http://proxy:1"),
        ("trust_env", False),
        ("retries", 2),
    ]:
        with pytest.raises(ConfigError) as info:
            ResilientTransport(inner=inner, **{name: value})  # type: ignore[arg-type]
        assert info.value.field == f"ResilientTransport.{name}"
        with pytest.raises(ConfigError) as info:
            RateLimitedAPIClient(transport=inner, **{name: value})
        assert info.value.field == f"RateLimitedAPIClient.{name}"
    with pytest.raises(ConfigError) as info:
        RateLimitedAPIClient(transport=ResilientTransport(), verify=False)
    assert info.value.field == "RateLimitedAPIClient.transport"


def test_empty_rate_limit_list_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        ResilientTransport(rate_limit=[])
    assert info.value.field == "ResilientTransport.rate_limit"


def queue_ceiling(client: RateLimitedAPIClient) -> int | None:
    layer = client.resilient_transport.get_layer(PriorityQueueTransport)
    return None if layer is None else layer.config.max_concurrency


def test_facade_queue_ceiling_follows_the_pool_limit() -> None:
    assert queue_ceiling(RateLimitedAPIClient()) == 100
    limits = httpx.Limits(max_connections=7)
    assert queue_ceiling(RateLimitedAPIClient(limits=limits)) == 7
    assert queue_ceiling(RateLimitedAPIClient(limits=httpx.Limits(max_connections=None))) == 100
    explicit = QueueConfig(max_concurrency=3, max_queue_size=10)
    client = RateLimitedAPIClient(queue=explicit, limits=limits)
    layer = client.resilient_transport.get_layer(PriorityQueueTransport)
    assert layer is not None
    assert layer.config is explicit
    assert queue_ceiling(RateLimitedAPIClient(queue=None)) is None


def test_facade_default_timeout_has_no_pool_bound() -> None:
    client = RateLimitedAPIClient()
    assert client.timeout == httpx.Timeout(10.0, pool=None)
    assert RateLimitedAPIClient(timeout=3.0).timeout == httpx.Timeout(3.0)
