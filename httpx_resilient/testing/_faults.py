"""``FaultInjectionTransport``: latency, errors, 5xx, 429 bursts and resets, seeded.

For tests of code that must survive a bad network: wrap a real or mock transport and
every request may be delayed (on the layer's clock, so ``FakeClock`` makes it instant),
fail with a connection error or timeout, get a synthetic 5xx, fall in a throttling burst,
or reach the inner transport and then lose its connection. All random draws for a
request happen when it arrives, a fixed number per request, so one seed and one arrival
order give the same faults however long each request takes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from .._core.clock import Clock
from .._core.layer import Layer
from .._core.outcomes import ConfigError
from .._core.validate import int_at_least, non_negative, number

__all__ = ["FaultBurst", "FaultInjectionTransport", "FaultStatistics"]

_OWNER = "FaultInjectionTransport"
FAULT_HEADER = "x-fault-injected"


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultBurst:
    """A run of ``length`` throttling responses, optionally repeating.

    Requests are numbered from 0 as they arrive. Request ``n`` is answered with
    ``status`` (the inner transport is not called) when ``n >= start`` and
    ``(n - start) % every < length``; without ``every`` the burst happens once.

    Attributes:
        length: responses in one burst (>= 1).
        every: burst period in requests (>= ``length``); ``None`` (default): once.
        start: number of the first request of the first burst (default 0).
        status: the status sent (default 429).
        retry_after: ``Retry-After`` seconds sent with it, rounded up to whole
            seconds (default 1.0); ``None`` sends none.
    """

    length: int
    every: int | None = None
    start: int = 0
    status: int = 429
    retry_after: float | None = 1.0

    def __post_init__(self) -> None:
        o = "FaultBurst"
        int_at_least(o, "length", self.length, 1)
        if self.every is not None:
            int_at_least(o, "every", self.every, self.length)
        int_at_least(o, "start", self.start, 0)
        int_at_least(o, "status", self.status, 100)
        if self.status > 599:
            raise ConfigError(f"{o}.status", f"must be an HTTP status, got {self.status!r}")
        if self.retry_after is not None:
            non_negative(o, "retry_after", self.retry_after)

    def covers(self, n: int) -> bool:
        """Whether request number ``n`` falls in a burst."""
        offset = n - self.start
        if offset < 0:
            return False
        if self.every is None:
            return offset < self.length
        return offset % self.every < self.length


@dataclass(frozen=True, slots=True)
class FaultStatistics:
    """``FaultInjectionTransport.statistics()``: what was injected so far.

    Attributes:
        requests: requests seen.
        passed: requests answered by the inner transport, untouched.
        delayed: requests given a latency > 0.
        total_latency: seconds of latency injected in all.
        errors: connection errors / timeouts raised without calling the inner transport.
        statuses: synthetic 5xx responses (from ``status_rate``).
        burst: responses sent by the ``burst``.
        resets: requests that reached the inner transport and then lost the connection.
    """

    requests: int = 0
    passed: int = 0
    delayed: int = 0
    total_latency: float = 0.0
    errors: int = 0
    statuses: int = 0
    burst: int = 0
    resets: int = 0


def _answer_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def _rate(name: str, value: object) -> float:
    rate = number(_OWNER, name, value)
    if not 0 <= rate <= 1:
        raise ConfigError(f"{_OWNER}.{name}", f"must be between 0 and 1, got {value!r}")
    return rate


def _latency(value: object) -> tuple[float, float]:
    pair = value if isinstance(value, tuple) and len(value) == 2 else (value, value)
    for bound in pair:
        non_negative(_OWNER, "latency", bound)
    low, high = number(_OWNER, "latency", pair[0]), number(_OWNER, "latency", pair[1])
    if low > high:
        raise ConfigError(f"{_OWNER}.latency", f"(low, high) needs low <= high, got {value!r}")
    return low, high


class FaultInjectionTransport(Layer):
    """Injects latency and faults in front of ``inner``, for tests.

    For each request, in order: the latency is slept on the clock; a request in a
    ``burst`` gets the burst's status; otherwise one draw picks an error (probability
    ``error_rate``, raised before the inner transport is called), a synthetic status
    from ``statuses`` (``status_rate``), a reset (``reset_rate``: the inner transport
    answers, then the response is closed and ``httpx.RemoteProtocolError`` raised, as
    when a connection drops after the server acted), or the inner transport's answer.
    Synthetic responses carry an ``x-fault-injected`` header.

    Args:
        inner: the transport to wrap; by default an ``httpx.MockTransport`` answering
            every request ``200 ok``, for tests that need only the faults.
        seed: seeds the random draws so runs repeat; ``None`` draws a fresh seed.
        latency: seconds added to every request, or ``(low, high)`` for a uniform draw.
        error_rate: probability of raising one of ``errors``.
        status_rate: probability of a synthetic response with one of ``statuses``.
        statuses: the statuses ``status_rate`` picks from (default 500, 502, 503).
        burst: a ``FaultBurst`` of throttling responses, e.g. ``FaultBurst(length=3,
            every=50)`` for three 429s with ``Retry-After: 1`` in every 50 requests.
        reset_rate: probability of dropping the connection after the inner answered.
        errors: the exception types ``error_rate`` picks from (default
            ``httpx.ConnectError`` and ``httpx.ReadTimeout``).
        clock: sleeps the latency; the event loop's clock by default.

    Raises:
        ConfigError: an argument is out of range (the three rates must sum to <= 1).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        seed: int | None = None,
        latency: float | tuple[float, float] = 0.0,
        error_rate: float = 0.0,
        status_rate: float = 0.0,
        statuses: Sequence[int] = (500, 502, 503),
        burst: FaultBurst | None = None,
        reset_rate: float = 0.0,
        errors: Sequence[type[httpx.TransportError]] = (httpx.ConnectError, httpx.ReadTimeout),
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            inner if inner is not None else httpx.MockTransport(_answer_ok), clock=clock
        )
        self._latency = _latency(latency)
        error_cut = _rate("error_rate", error_rate)
        status_cut = error_cut + _rate("status_rate", status_rate)
        reset_cut = status_cut + _rate("reset_rate", reset_rate)
        if reset_cut > 1 + 1e-9:
            raise ConfigError(
                f"{_OWNER}.reset_rate", "error_rate + status_rate + reset_rate must be <= 1"
            )
        self._cuts = (error_cut, status_cut, reset_cut)
        if isinstance(statuses, (str, bytes)) or not statuses:
            raise ConfigError(f"{_OWNER}.statuses", "must be a non-empty sequence of statuses")
        for status in statuses:
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise ConfigError(f"{_OWNER}.statuses", f"not an HTTP status: {status!r}")
        self._statuses = tuple(statuses)
        if not errors or not all(
            isinstance(e, type) and issubclass(e, httpx.TransportError) for e in errors
        ):
            raise ConfigError(
                f"{_OWNER}.errors", "must be a non-empty sequence of httpx.TransportError types"
            )
        self._errors = tuple(errors)
        if burst is not None and not isinstance(burst, FaultBurst):
            raise ConfigError(f"{_OWNER}.burst", f"must be a FaultBurst or None, got {burst!r}")
        self._burst = burst
        self._random = random.Random(seed)
        self._requests = self._passed = self._delayed = 0
        self._injected_errors = self._injected_statuses = self._bursts = self._resets = 0
        self._total_latency = 0.0

    def statistics(self) -> FaultStatistics:
        """A snapshot of what was injected so far."""
        return FaultStatistics(
            requests=self._requests,
            passed=self._passed,
            delayed=self._delayed,
            total_latency=self._total_latency,
            errors=self._injected_errors,
            statuses=self._injected_statuses,
            burst=self._bursts,
            resets=self._resets,
        )

    def _synthetic(self, status: int, kind: str, retry_after: float | None) -> httpx.Response:
        headers = [(FAULT_HEADER, kind)]
        if retry_after is not None:
            headers.append(("retry-after", str(math.ceil(retry_after))))
        return httpx.Response(status, headers=headers, content=f"injected {kind}".encode())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        n = self._requests
        self._requests = n + 1
        # Three draws per request, before any await: the same seed and arrival order
        # give the same faults whatever the timing.
        draw = self._random.random
        low, high = self._latency
        delay = low + (high - low) * draw()
        roll = draw()
        pick = draw()
        if delay > 0:
            self._delayed += 1
            self._total_latency += delay
            await self._clock.sleep(delay)
        burst = self._burst
        if burst is not None and burst.covers(n):
            self._bursts += 1
            return self._synthetic(burst.status, "burst", burst.retry_after)
        error_cut, status_cut, reset_cut = self._cuts
        if roll < error_cut:
            self._injected_errors += 1
            kind = self._errors[int(pick * len(self._errors))]
            raise kind(f"{kind.__name__} (injected fault)", request=request)
        if roll < status_cut:
            self._injected_statuses += 1
            status = self._statuses[int(pick * len(self._statuses))]
            return self._synthetic(status, "status", None)
        response = await self._inner.handle_async_request(request)
        if roll < reset_cut:
            self._resets += 1
            await response.aclose()
            raise httpx.RemoteProtocolError(
                "connection reset by peer (injected fault)", request=request
            )
        self._passed += 1
        return response

    def __repr__(self) -> str:
        error_cut, status_cut, reset_cut = self._cuts
        return (
            f"{_OWNER}(latency={self._latency!r}, error_rate={error_cut:g}, "
            f"status_rate={status_cut - error_cut:g}, reset_rate={reset_cut - status_cut:g}, "
            f"burst={self._burst!r})"
        )
