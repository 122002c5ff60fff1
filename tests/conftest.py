"""Shared fixtures: every async test runs under asyncio and trio."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the loopback ``server`` are integration tests."""
    for item in items:
        if "server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


from collections.abc import Iterator  # noqa: E402

from tests.loopback import LoopbackServer  # noqa: E402


@pytest.fixture(scope="session")
def _loopback_session() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_loopback_session: LoopbackServer) -> Iterator[LoopbackServer]:
    """A real HTTP/1.1 server on 127.0.0.1, emptied of routes and log for each test."""
    _loopback_session.reset()
    yield _loopback_session
    _loopback_session.reset()
