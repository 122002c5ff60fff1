"""The face-neutral part of the error vocabulary: shared by the httpx and httpx2 faces.

``ConfigError`` and ``ErrorType`` carry no httpx type, so one class serves both faces
(a ``RetryConfig`` built with either face's import is the same object). Shared modules
(configs, policies, storages, the Redis adapters) never raise an httpx-typed error: when
they refuse a call they raise ``Refused``, and the face's transport that called them
re-raises it as its own ``ResilienceError`` subclass (``errors.refusal``), so
``except httpx2.HTTPError`` catches every refusal of the httpx2 face even when a
``RedisBackend`` is shared by both faces in one process.
"""

from __future__ import annotations

import enum

__all__ = ["ConfigError", "ErrorType", "Refused"]


class ConfigError(ValueError):
    """A configuration value is invalid.

    Attributes:
        field: the name of the bad field (or environment variable).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ErrorType(enum.Enum):
    """Coarse outcome classes used by metrics, logs and ``classify``."""

    NETWORK = "network"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    CLIENT = "client"
    CIRCUIT_OPEN = "circuit_open"


class Refused(Exception):
    """A refusal decided by shared code, before a face gives it its httpx-typed class.

    Never escapes to users: the face transport that called the shared code converts it.

    Attributes:
        kind: the name of the face error class to raise (``"CircuitOpenError"``,
            ``"ResilienceError"``, ...).
        message: the error message.
        retry_after: seconds after which trying again may succeed, when known.
    """

    def __init__(self, kind: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
