"""The error tree, and ``classify`` to map any outcome onto an ``ErrorType``.

::

    httpx.TransportError
    └── ResilienceError                 every refusal of ours; ``retry_after`` advises when
        ├── RateLimitExceeded           the token wait would exceed ``max_wait``
        ├── CircuitOpenError            the breaker for this host is open (or probes are busy)
        ├── QueueFullError              ``max_queue_size`` requests are already waiting
        ├── QueueTimeoutError           waited longer than ``queue_timeout`` (or the pool
        │                               timeout) for a slot; also an ``httpx.PoolTimeout``
        ├── ClientClosedError           the transport was closed
        └── TimeoutBudgetExceeded       ``timeout_budget`` ran out while waiting (also an
                                        ``httpx.TimeoutException``)
    ValueError
    └── ConfigError                     a bad configuration value; ``field`` names it

Subclassing ``httpx.TransportError`` keeps ``except httpx.HTTPError`` code working.
``ConfigError`` and ``ErrorType`` live in the face-neutral ``outcomes`` module (one class
for both faces); this module is face code, generated for httpx2.
"""

from __future__ import annotations

import httpx

from .outcomes import ConfigError, ErrorType, Refused

__all__ = [
    "CircuitOpenError",
    "ClientClosedError",
    "ConfigError",
    "ErrorType",
    "QueueFullError",
    "QueueTimeoutError",
    "RateLimitExceeded",
    "ResilienceError",
    "TimeoutBudgetExceeded",
    "classify",
    "refusal",
]


class ResilienceError(httpx.TransportError):
    """Base of every refusal raised by a layer of this library.

    Attributes:
        retry_after: seconds after which trying again may succeed, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.retry_after = retry_after


class RateLimitExceeded(ResilienceError):
    """The wait for a rate-limit token would exceed ``max_wait``.

    ``retry_after`` is the wait that would have been needed, in seconds.
    """


class CircuitOpenError(ResilienceError):
    """The circuit breaker refuses the call; ``retry_after`` is the time to the next probe."""


class QueueFullError(ResilienceError):
    """``max_queue_size`` requests are already waiting for a concurrency slot."""


class QueueTimeoutError(ResilienceError, httpx.PoolTimeout):
    """A request waited longer than ``queue_timeout`` for a concurrency slot, or, with no
    ``queue_timeout``, longer than its own pool timeout: an ``httpx.PoolTimeout`` too, so
    code written for httpx's pool keeps catching it."""


class ClientClosedError(ResilienceError):
    """The transport was closed before or while the request waited."""


class TimeoutBudgetExceeded(ResilienceError, httpx.TimeoutException):
    """The logical request's ``timeout_budget`` ended while waiting, with no response in hand."""


def classify(outcome: httpx.Response | BaseException) -> ErrorType | None:
    """Map a response or an exception onto an ``ErrorType``.

    Returns ``None`` for a response below 400 and for exceptions that are not errors
    of the HTTP exchange (a bug in caller code, say).
    """
    if isinstance(outcome, httpx.Response):
        status = outcome.status_code
        if status == 429:
            return ErrorType.RATE_LIMIT
        if status >= 500:
            return ErrorType.SERVER
        if status >= 400:
            return ErrorType.CLIENT
        return None
    if isinstance(outcome, CircuitOpenError):
        return ErrorType.CIRCUIT_OPEN
    if isinstance(outcome, RateLimitExceeded):
        return ErrorType.RATE_LIMIT
    if isinstance(outcome, (httpx.TimeoutException, QueueTimeoutError)):
        return ErrorType.TIMEOUT
    if isinstance(outcome, ResilienceError):
        return ErrorType.CLIENT
    if isinstance(outcome, (httpx.TransportError, OSError)):
        return ErrorType.NETWORK
    if isinstance(outcome, TimeoutError):
        return ErrorType.TIMEOUT
    return None


_REFUSALS: dict[str, type[ResilienceError]] = {
    cls.__name__: cls
    for cls in (
        ResilienceError,
        RateLimitExceeded,
        CircuitOpenError,
        QueueFullError,
        QueueTimeoutError,
        ClientClosedError,
        TimeoutBudgetExceeded,
    )
}


def refusal(refused: Refused, request: httpx.Request | None = None) -> ResilienceError:
    """This face's error for a ``Refused`` raised by shared code (cause and context kept)."""
    cls = _REFUSALS.get(refused.kind, ResilienceError)
    error = cls(refused.message, request=request, retry_after=refused.retry_after)
    error.__cause__ = refused.__cause__
    return error
