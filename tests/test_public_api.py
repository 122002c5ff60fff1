"""The public surface: ``__all__`` is complete and exact, privacy and time rules hold."""

from __future__ import annotations

import ast
import pathlib

import httpx

import httpx_resilient
from httpx_resilient import testing

PACKAGE = pathlib.Path(httpx_resilient.__file__).parent

DESIGN_NAMES = {
    "ResilientTransport", "RateLimitConfig", "CircuitBreakerConfig", "RetryConfig",
    "RetryBudget", "CacheConfig", "DedupConfig", "QueueConfig", "AlertThresholds",
    "MemoryStorage", "SQLiteStorage", "CircuitState", "ClientMetrics", "HealthStatus",
    "HealthState", "ResilienceError", "RateLimitExceeded", "CircuitOpenError",
    "QueueFullError", "QueueTimeoutError", "ClientClosedError", "TimeoutBudgetExceeded",
    "ConfigError", "ErrorType", "classify", "TokenAuth", "Token", "RateLimitedAPIClient",
    "EnvironmentConfig", "TimeoutConfig", "RateLimitTransport", "CircuitBreakerTransport",
    "RetryTransport", "CacheTransport", "DedupTransport", "PriorityQueueTransport",
    "MetricsTransport",
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    for name in httpx_resilient.__all__:  # the names load on first use
        getattr(httpx_resilient, name)
    public = {name for name in vars(httpx_resilient) if not name.startswith("_")}
    public.discard("testing")  # the public submodule, imported by this test
    public.discard("httpx2")  # the httpx2 face's package, when another test imported it
    assert set(httpx_resilient.__all__) == public | {"__version__"}
    assert sorted(httpx_resilient.__all__) == httpx_resilient.__all__
    assert set(httpx_resilient.__all__) >= DESIGN_NAMES


def test_every_public_object_is_documented() -> None:
    for name in httpx_resilient.__all__:
        obj = getattr(httpx_resilient, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_error_tree() -> None:
    assert issubclass(httpx_resilient.ResilienceError, httpx.TransportError)
    for name in ("RateLimitExceeded", "CircuitOpenError", "QueueFullError",
                 "QueueTimeoutError", "ClientClosedError", "TimeoutBudgetExceeded"):  # fmt: skip
        assert issubclass(getattr(httpx_resilient, name), httpx_resilient.ResilienceError)
    assert issubclass(httpx_resilient.TimeoutBudgetExceeded, httpx.TimeoutException)
    assert issubclass(httpx_resilient.ConfigError, ValueError)


def test_testing_module_exports() -> None:
    for name in testing.__all__:
        assert getattr(testing, name).__doc__


def test_only_the_clock_module_reads_time() -> None:
    """STYLE rule 3: no module but _core/clock.py touches time, asyncio.sleep or anyio.sleep."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "_core" / "clock.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "time" for a in node.names):
                offenders.append(f"{path.name}: import time")
            if isinstance(node, ast.ImportFrom) and node.module == "time":
                offenders.append(f"{path.name}: from time import")
            if isinstance(node, ast.Attribute) and node.attr in ("sleep", "current_time"):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("asyncio", "anyio", "trio"):
                    offenders.append(f"{path.name}: {base.id}.{node.attr}")
    assert offenders == []
