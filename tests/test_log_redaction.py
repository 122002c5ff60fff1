"""Every log record of ours is redacted, its traceback included.

The retry layer logs at DEBUG, with the traceback, when it cannot read the body of a
response it retries past; the exception's message carries the request URL with its
password and ``?api_key=``. Neither may reach a handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import httpx_resilient
from httpx_resilient._core.redact import LOGGERS, REDACTED, RedactingFilter, redact_text
from httpx_resilient._retry.config import RetryConfig
from httpx_resilient._retry.transport import RetryTransport
from httpx_resilient.testing import FakeClock

URL = "https://alice:pa55-w0rd-secret@api.test/items?api_key=k3y-secret-value&page=2"
SECRETS = ("pa55-w0rd-secret", "k3y-secret-value")


class BrokenBody(httpx.AsyncByteStream):
    """A body whose first read fails with an error that quotes the URL, secrets and all."""

    def __init__(self, url: httpx.URL) -> None:
        self.url = url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        raise httpx.ReadError(f"connection reset while reading {self.url}")
        yield b""  # pragma: no cover

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
async def test_the_retry_layers_debug_traceback_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx_resilient")
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(503, stream=BrokenBody(request.url))
        return httpx.Response(200, text="ok")

    transport = RetryTransport(
        httpx.MockTransport(handler), RetryConfig(budget=None), clock=FakeClock(autojump=True)
    )
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert response.status_code == 200
    records = [r for r in caplog.records if "discarded response" in r.getMessage()]
    assert len(records) == 1  # the DEBUG path was taken
    record = records[0]
    assert record.exc_info is None  # the raw exception never reaches a handler
    assert record.exc_text is not None
    assert "ReadError" in record.exc_text
    assert f"api_key={REDACTED}" in record.exc_text
    for text in (caplog.text, record.exc_text, record.getMessage()):
        for secret in SECRETS:
            assert secret not in text
    formatted = logging.Formatter("%(message)s").format(record)
    assert all(secret not in formatted for secret in SECRETS)


def test_every_record_is_redacted_message_args_extras_and_child_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        logging.getLogger(name).warning(
            "failed %s with Authorization: Bearer t0ken-secret-1 and X-Goog-Api-Key: g00g-secret",
            URL,
            extra={"error": f"boom {URL}", "count": 3},
        )
    assert len(caplog.records) == len(LOGGERS)
    for record in caplog.records:
        assert record.count == 3  # type: ignore[attr-defined]
        assert "https://api.test/items" in record.getMessage()
    for secret in (*SECRETS, "t0ken-secret-1", "g00g-secret"):
        assert secret not in caplog.text
        assert all(secret not in str(vars(r)) for r in caplog.records)


def test_every_logger_of_the_package_has_the_filter() -> None:
    """A logger a module asks for by name is in ``LOGGERS`` (a filter does not reach a
    child logger's records through its parent)."""
    source = Path(httpx_resilient.__file__).parent
    names = set()
    for path in source.rglob("*.py"):
        names.update(re.findall(r"getLogger\(\"([\w.]+)\"\)", path.read_text()))
    assert names
    assert names <= set(LOGGERS)
    for name in LOGGERS:
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Redis 127.0.0.1:6379 unreachable (ConnectionError: refused)", True),
        ("circuit breaker 'a.test': closed -> open, ratio=2", True),
        ("GET https://api.test/v1?page=2 -> 503", True),
        ("token=abc123&user=x", False),
        ("{'x-api-key': 'abcd1234'}", False),
        ("redis://:hunter2@127.0.0.1:6379/0", False),
    ],
)
def test_redact_text(text: str, kept: bool) -> None:
    assert (redact_text(text) == text) is kept
    assert "hunter2" not in redact_text(text)
