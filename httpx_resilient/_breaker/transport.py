"""``CircuitBreakerTransport``: fails fast while an upstream keeps failing.

The state machine lives in ``policy.py``; this module asks it for a ticket,
delegates, judges the outcome and settles the ticket in ``finally``.

The outcome is judged when the response headers arrive (a transport returns there):
a 5xx status is a failure, anything else a success, and slow-call duration is measured
up to the headers. An error raised later while the caller reads the body is not seen
by the breaker. Network errors and timeouts raised by the inner transport are failures;
refusals of layers below (``ResilienceError``: rate limit, timeout budget), local errors
(``UnsupportedProtocol``, ``LocalProtocolError``, ``PoolTimeout``: our own pool is
full), cancellation and other ``BaseException`` count as neither and free the call's
probe slot.

While CLOSED in consecutive-failure mode a call costs two dict look-ups and no clock
read; the clock is read only to admit a call that is not CLOSED, to settle a failure,
and in failure-rate mode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

import httpx

from .._core.clock import Clock
from .._core.errors import CircuitOpenError, ConfigError, ResilienceError
from .._core.keys import key_function
from .._core.layer import Layer
from .._core.snapshots import BreakerStatistics, CircuitState
from .config import CircuitBreakerConfig
from .policy import NOT_ADMITTED, BreakerPolicy

__all__ = ["CircuitBreakerTransport", "default_is_failure"]

logger = logging.getLogger("httpx_resilient")

StateHook = Callable[[str, CircuitState, CircuitState], None]

# Raised before anything reaches the upstream: our refusal, a bad request, or our own
# connection pool being full (local congestion), not a failure of the upstream.
_LOCAL_ERRORS = (
    ResilienceError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.PoolTimeout,
)
_UPSTREAM_ERRORS = (httpx.TransportError, OSError, TimeoutError)


def default_is_failure(outcome: httpx.Response | BaseException) -> bool | None:
    """The default rule: ``True`` failure, ``False`` success, ``None`` neither.

    5xx responses, network errors and timeouts (also inside an exception group) are
    failures; other responses (4xx and 429 included) are successes; our own refusals,
    local errors (a bad request, our own pool full), cancellation and unrelated
    exceptions are neither.
    """
    if isinstance(outcome, httpx.Response):
        return outcome.status_code >= 500
    if isinstance(outcome, _LOCAL_ERRORS) or not isinstance(outcome, Exception):
        return None
    if isinstance(outcome, _UPSTREAM_ERRORS):
        return True
    group = getattr(outcome, "exceptions", None)
    if isinstance(group, tuple) and any(default_is_failure(e) for e in group):
        return True
    return None


class CircuitBreakerTransport(Layer):
    """Per-key (host by default) circuit breakers around ``inner``.

    Args:
        inner: the transport requests are passed to.
        config: thresholds, timeouts, keying and the failure rule.
        clock: the time source; the event loop's clock by default.
        on_state_change: called as ``(key, old, new)`` on every transition. An exception
            it raises is logged and swallowed. Transitions are also logged to the
            ``httpx_resilient`` logger (WARNING when opening, INFO otherwise).

    With ``config.backend`` set (a ``RedisBackend``) the instance built is a
    ``SharedCircuitBreakerTransport`` (``_breaker/shared.py``): the state lives in the
    backend and manual control is async there.

    Raises:
        CircuitOpenError: (from requests) the breaker for the request's key is open, or
            half-open with every probe slot busy; ``retry_after`` is the seconds until
            the next probe, ``None`` when unknown.
    """

    _shared = False  # True for the subclass that keeps state in config.backend
    _shared_class: ClassVar[type[CircuitBreakerTransport] | None] = None

    def __new__(
        cls,
        inner: httpx.AsyncBaseTransport,
        config: CircuitBreakerConfig,
        *,
        clock: Clock | None = None,
        on_state_change: StateHook | None = None,
    ) -> CircuitBreakerTransport:
        if cls is CircuitBreakerTransport and getattr(config, "backend", None) is not None:
            shared = CircuitBreakerTransport._shared_class
            if shared is None:  # pragma: no cover - _breaker/__init__ registers it
                raise ConfigError("CircuitBreakerConfig.backend", "no shared breaker available")
            return super().__new__(shared)
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs: object) -> None:
        # The shared variant (shared.py) registers itself here, so this module need not
        # import it (``_breaker/__init__`` imports both).
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_shared") and CircuitBreakerTransport._shared_class is None:
            CircuitBreakerTransport._shared_class = cls

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        config: CircuitBreakerConfig,
        *,
        clock: Clock | None = None,
        on_state_change: StateHook | None = None,
    ) -> None:
        super().__init__(inner, clock=clock)
        if not isinstance(config, CircuitBreakerConfig):
            raise TypeError(f"config must be a CircuitBreakerConfig, got {config!r}")
        if config.backend is not None and not self._shared:
            raise ConfigError(
                "CircuitBreakerConfig.backend",
                f"{type(self).__name__} keeps state in process; subclass "
                "SharedCircuitBreakerTransport (_breaker/shared.py) to use a backend",
            )
        self._config = config
        self._key = key_function(config.per)
        self._policy = BreakerPolicy(config, on_transition=self._transition)
        self._hook = on_state_change
        self._is_failure = config.is_failure
        self._rate_mode = self._policy.rate_mode
        self._time_calls = self._rate_mode and config.slow_call_duration is not None
        self._in_flight = 0

    @property
    def config(self) -> CircuitBreakerConfig:
        """The configuration this transport was built with."""
        return self._config

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = self._key(request)
        policy = self._policy
        ticket = policy.admit_closed(key)
        if ticket == NOT_ADMITTED:
            now = self._clock.now()
            ticket = policy.admit(key, now)
            if ticket == NOT_ADMITTED:
                raise self._refusal(key, request, now)
        start = self._clock.now() if self._time_calls else 0.0
        self._in_flight += 1
        settled = False
        try:
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                verdict = self._judge_error(exc)
                if verdict is not None:
                    settled = True
                    self._settle(key, ticket, verdict, start)
                raise
            if self._is_failure is None:  # the default rule, without a coroutine
                failed = response.status_code >= 500
            else:
                failed = await self._judge_response(response)
            settled = True
            if failed or self._rate_mode:
                self._settle(key, ticket, failed, start)
            else:
                policy.success(key, ticket)
            return response
        finally:
            self._in_flight -= 1
            if not settled:
                policy.release(key, ticket)

    def _settle(self, key: str, ticket: int, failed: bool, start: float) -> None:
        if failed:
            self._policy.failure(key, ticket, self._clock.now())
        elif self._rate_mode:
            now = self._clock.now()
            self._policy.success(key, ticket, now, now - start if self._time_calls else None)
        else:
            self._policy.success(key, ticket)

    async def _judge_response(self, response: httpx.Response) -> bool:
        """Whether ``response`` is a failure by ``is_failure``; closes it if that raises."""
        if self._is_failure is None:
            return response.status_code >= 500
        try:
            return bool(self._is_failure(response))
        except BaseException:
            await response.aclose()
            raise

    def _judge_error(self, exc: Exception) -> bool | None:
        if isinstance(exc, ResilienceError):
            return None
        if self._is_failure is not None:
            return bool(self._is_failure(exc))
        return default_is_failure(exc)

    def _refusal(self, key: str, request: httpx.Request, now: float) -> CircuitOpenError:
        retry_after = self._policy.retry_after(key, now)
        rec = self._policy.record(key)
        if retry_after is not None:
            detail = f"is open; next probe in {retry_after:.3f} s"
        elif rec is not None and rec.isolated:
            detail = "is isolated (held open until reset)"
        else:
            detail = (
                f"is half-open and its {self._config.half_open_max_calls} probe slot(s) are busy"
            )
        return CircuitOpenError(
            f"circuit breaker for {key!r} {detail}", request=request, retry_after=retry_after
        )

    def _transition(self, key: str, old: CircuitState, new: CircuitState) -> None:
        level = logging.WARNING if new is CircuitState.OPEN else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "circuit breaker %r: %s -> %s",
                key,
                old.value,
                new.value,
                extra={
                    "event": "circuit_state_change",
                    "key": key,
                    "old": old.value,
                    "new": new.value,
                },
            )
        if self._hook is not None:
            try:
                self._hook(key, old, new)
            except Exception:
                logger.exception("on_state_change hook failed for circuit breaker %r", key)

    # -- manual control and reading --------------------------------------------------

    def state(self, key: str) -> CircuitState:
        """The state of the breaker for ``key`` now (OPEN turns HALF_OPEN lazily here)."""
        return self._policy.state(key, self._clock.now())

    def force_open(self, key: str) -> None:
        """Open the breaker for ``key`` now; it recovers after ``recovery_timeout``."""
        self._policy.force_open(key, self._clock.now())

    def isolate(self, key: str) -> None:
        """Open the breaker for ``key`` and hold it open until ``reset``."""
        self._policy.isolate(key, self._clock.now())

    def reset(self, key: str | None = None) -> None:
        """Close the breaker for ``key`` (all breakers for ``None``), clearing counters."""
        self._policy.reset(key)

    def statistics(self) -> BreakerStatistics:
        """A snapshot: state per key, opens, rejections, probes and calls in flight.

        Reads only, so it may run in any thread, with or without an event loop: a due
        OPEN breaker shows HALF_OPEN without being moved (its next call moves it).
        """
        policy = self._policy
        states, probes = policy.peek(self._clock.now())
        return BreakerStatistics(
            states=states,
            opens=policy.opens,
            rejected=policy.rejected,
            probes_in_flight=probes,
            calls_in_flight=self._in_flight,
        )
