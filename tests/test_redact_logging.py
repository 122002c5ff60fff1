"""Redaction: no credential, cookie or token query value in logs, labels, spans or errors."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from httpx_resilient._core.errors import ResilienceError
from httpx_resilient._core.redact import (
    REDACTED,
    is_sensitive_param,
    redact_headers,
    redact_url,
    scrub,
)
from httpx_resilient._metrics.config import AlertThresholds
from httpx_resilient._metrics.otel import OTelTransport, instrument_otel
from httpx_resilient._metrics.prometheus import PrometheusCollector
from httpx_resilient._metrics.transport import MetricsTransport
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._queue.transport import PriorityQueueTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

SENTINEL = "S3NT1NEL"


def test_redact_url() -> None:
    url = "https://user:pw-secret@API.example.com:8443/v1/items?api_key=abc&page=2&Token=t0k#frag"
    assert redact_url(url) == (
        f"https://api.example.com:8443/v1/items?api_key={REDACTED}&page=2&Token={REDACTED}"
    )
    assert redact_url(httpx.URL("http://h/p")) == "http://h/p"
    assert redact_url("http://h/p?flag&sig=zz&x=") == f"http://h/p?flag&sig={REDACTED}&x="
    assert redact_url("http://h/?X-Amz-Signature=1&X-Amz-Credential=2") == (
        f"http://h/?X-Amz-Signature={REDACTED}&X-Amz-Credential={REDACTED}"
    )
    assert redact_url("http://h/?access%5Ftoken=1") == f"http://h/?access%5Ftoken={REDACTED}"
    assert redact_url("http://h:abc/?token=x") == "<invalid URL>"


@pytest.mark.parametrize(
    "name",
    ["api_key", "apikey", "token", "access_token", "key", "secret", "client_secret", "password",
     "signature", "sig", "auth", "Authorization", "session_id", "refresh_token", "X-Api-Key"],
)  # fmt: skip
def test_sensitive_params(name: str) -> None:
    assert is_sensitive_param(name)


@pytest.mark.parametrize("name", ["page", "q", "limit", "sort", "id", "format"])
def test_ordinary_params_are_kept(name: str) -> None:
    assert not is_sensitive_param(name)


def test_redact_headers() -> None:
    headers = httpx.Headers(
        [
            ("Authorization", "Bearer abc"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X-Api-Key", "k"),
            ("Accept", "application/json"),
        ]
    )
    assert redact_headers(headers) == {
        "authorization": REDACTED,
        "cookie": f"{REDACTED}, {REDACTED}",
        "x-api-key": REDACTED,
        "accept": "application/json",
    }
    assert redact_headers({"Set-Cookie": "sid=1"}) == {"set-cookie": REDACTED}


def test_scrub_removes_every_secret_of_the_request() -> None:
    request = httpx.Request(
        "GET",
        "http://u:hunter22@h/p?api_key=key-1234&q=plain",
        headers={"Authorization": "Bearer tok-5678", "Cookie": "sid=cookie-9012; theme=dark"},
    )
    text = f"failed {request.url} with Bearer tok-5678 and sid=cookie-9012, user hunter22"
    cleaned = scrub(text, request)
    for secret in ("key-1234", "tok-5678", "cookie-9012", "hunter22"):
        assert secret not in cleaned
    assert "q=plain" in cleaned
    assert scrub("nothing to hide", None) == "nothing to hide"


async def test_sentinel_is_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    """Secrets go through every layer, fault and exporter, and surface nowhere."""
    caplog.set_level(logging.DEBUG, logger="httpx_resilient")
    clock = FakeClock()
    release = anyio.Event()

    async def upstream(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/hold":
            await release.wait()
        if path == "/leak":  # a lower layer that puts the whole request in its message
            raise httpx.ConnectError(f"cannot reach {request.url} as {request.headers}")
        return httpx.Response(500 if path == "/boom" else 200)

    tracer_provider = TracerProvider()
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    queue = PriorityQueueTransport(
        ScriptedTransport(upstream),
        QueueConfig(max_concurrency=1, max_queue_size=1, queue_timeout=1.0),
        clock=clock,
    )
    metrics = MetricsTransport(
        queue,
        clock=clock,
        thresholds=AlertThresholds(min_success_rate=99.0, min_requests=1),
        on_alert=lambda status: None,
        alert_interval=0.0,
    )
    stack = OTelTransport(
        metrics, tracer_provider=tracer_provider, meter_provider=meter_provider, clock=clock
    )
    instrument_otel(metrics, meter_provider=meter_provider)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics))

    client = httpx.AsyncClient(
        transport=stack,
        base_url="http://api.example",
        headers={"Authorization": f"Bearer {SENTINEL}-token"},
        cookies={"session": f"{SENTINEL}-cookie"},
        params={"api_key": f"{SENTINEL}-key", "access_token": f"{SENTINEL}-at"},
    )
    errors: list[BaseException] = []

    async def get(path: str) -> None:
        try:
            await client.get(path)
        except httpx.HTTPError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        await get("/ok")
        await get("/boom")
        await get("/leak")
        tg.start_soon(get, "/hold")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(get, "/waits")  # queued, then times out
        await anyio.wait_all_tasks_blocked()
        await get("/full")  # QueueFullError
        clock.advance(1.5)
        await anyio.wait_all_tasks_blocked()
        release.set()
    await stack.aclose()
    await get("/after-close")  # ClientClosedError
    await client.aclose()

    ours = [e for e in errors if isinstance(e, ResilienceError)]
    assert {type(e).__name__ for e in ours} == {
        "QueueFullError",
        "QueueTimeoutError",
        "ClientClosedError",
    }
    assert metrics.get_metrics().total_requests == 7

    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    haystack = [formatter.format(r) + repr(vars(r)) for r in caplog.records]
    assert any("api_key=[REDACTED]" in text for text in haystack)  # the URLs were logged
    assert any(getattr(r, "event", None) == "health_alert" for r in caplog.records)
    haystack += [f"{e!s} {e!r}" for e in ours]
    haystack.append(generate_latest(registry).decode())
    for span in spans.get_finished_spans():
        status = (span.status.status_code, span.status.description)
        haystack.append(repr((span.name, dict(span.attributes or {}), status, span.events)))
    data = reader.get_metrics_data()
    assert data is not None
    haystack.append(data.to_json())
    assert len(haystack) > 10
    leaks = [text for text in haystack if SENTINEL in text]
    assert leaks == []
