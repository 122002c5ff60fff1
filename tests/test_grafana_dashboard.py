"""docs/grafana-dashboard.json queries only metrics the Prometheus exporter emits."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from httpx_resilient import (
    CircuitBreakerConfig,
    PrometheusCollector,
    QueueConfig,
    RateLimitConfig,
    ResilientTransport,
    RetryConfig,
)
from httpx_resilient.testing import ChaosApp, run_chaos_server

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\bhttpx_resilient_[a-z0-9_]+")


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def queried_metrics() -> set[str]:
    return {
        name
        for panel in dashboard()["panels"]
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }


async def scraped_names() -> set[str]:
    """Sample names of a real collector after real requests to the loopback chaos server."""
    transport = ResilientTransport(
        rate_limit=RateLimitConfig(max_requests=1000),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2, recovery_timeout=60),
        retry=RetryConfig(max_retries=1, base_delay=0.01, jitter="none"),
        cache=True,
        dedup=True,
        queue=QueueConfig(max_concurrency=4),
    )
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(transport))
    async with (
        run_chaos_server(ChaosApp(0)) as url,
        httpx.AsyncClient(base_url=url, transport=transport) as client,
    ):
        for path in ("/cacheable?key=1&max_age=60", "/cacheable?key=1&max_age=60", "/ok"):
            assert (await client.get(path)).status_code == 200
        for _ in range(3):  # two failures open the /flaky host's breaker
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/flaky?fail=1")
    text = generate_latest(registry).decode()
    names = {sample.name for family in registry.collect() for sample in family.samples}
    assert all(name in text for name in names)
    return names


async def test_every_queried_metric_is_emitted_by_the_exporter() -> None:
    queried = queried_metrics()
    emitted = await scraped_names()
    assert len(queried) >= 10
    assert queried <= emitted, sorted(queried - emitted)


def test_the_dashboard_has_the_panels_the_docs_promise() -> None:
    titles = " | ".join(panel["title"].lower() for panel in dashboard()["panels"])
    for topic in ("success rate", "latency", "breaker", "queue", "rate-limit", "cache hit"):
        assert topic in titles, topic


def test_a_metric_the_exporter_does_not_emit_would_be_caught() -> None:
    expr = "sum(rate(httpx_resilient_concurrency_limit[5m])) + httpx_resilient_queue_size"
    assert METRIC.findall(expr) == [
        "httpx_resilient_concurrency_limit",
        "httpx_resilient_queue_size",
    ]
