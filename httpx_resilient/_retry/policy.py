"""The retry decision and the delay before each retry: pure, no I/O, no awaiting.

Delays are tenacity wait strategies, so the same objects also work inside a tenacity
``Retrying`` loop, but the transport never runs that loop: it asks the strategies
directly, and only once a retry is actually considered (the first attempt never builds
a ``RetryCallState``). Every strategy draws from an injectable ``random.Random`` so tests
can seed it.

Delay before retry ``n`` (0-based), with ``d = min(max_delay, base_delay *
backoff_factor**n)``:

- ``"full"``: ``uniform(0, d)`` (AWS "full jitter", tenacity's
  ``wait_random_exponential``)
- ``"equal"``: ``d/2 + uniform(0, d/2)``
- ``"decorrelated"``: ``min(max_delay, uniform(base_delay, 3 * previous))``, where
  ``previous`` starts at ``base_delay`` (``backoff_factor`` is not used)
- ``"none"``: ``d``

A server ``Retry-After`` replaces the computed delay; beyond ``max_retry_after`` it
means "do not retry".
"""

from __future__ import annotations

import random

import httpx
import tenacity
from tenacity.wait import wait_base, wait_exponential

from .._core.errors import ConfigError, ResilienceError
from .._core.headers import parse_retry_after
from .config import RetryConfig

__all__ = [
    "DecorrelatedJitterWait",
    "EqualJitterWait",
    "FullJitterWait",
    "RetryPolicy",
    "describe",
    "is_retryable_error",
    "make_wait",
]

# Transport errors that say nothing about whether a second try could work: a bad URL
# scheme or a request this side could not even encode. Everything else retries.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


class FullJitterWait(wait_exponential):
    """``uniform(0, d)``: tenacity's ``wait_random_exponential`` with an injectable rng."""

    def __init__(self, *, base: float, factor: float, cap: float, rng: random.Random) -> None:
        super().__init__(multiplier=base, max=cap, exp_base=factor)
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self.rng.uniform(0.0, super().__call__(retry_state))


class EqualJitterWait(wait_exponential):
    """``d/2 + uniform(0, d/2)``: never less than half the exponential delay."""

    def __init__(self, *, base: float, factor: float, cap: float, rng: random.Random) -> None:
        super().__init__(multiplier=base, max=cap, exp_base=factor)
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        half = super().__call__(retry_state) / 2.0
        return half + self.rng.uniform(0.0, half)


class DecorrelatedJitterWait(wait_base):
    """``min(cap, uniform(base, 3 * previous))`` (AWS "decorrelated jitter").

    ``previous`` is the state's ``upcoming_sleep`` (the last delay this strategy gave;
    tenacity's own loop keeps it the same way), or ``base`` before the first retry.
    """

    def __init__(self, *, base: float, cap: float, rng: random.Random) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        base = self.base
        previous = retry_state.upcoming_sleep if retry_state.attempt_number > 1 else base
        return min(self.cap, self.rng.uniform(base, max(base, previous) * 3.0))


def make_wait(config: RetryConfig, rng: random.Random) -> wait_base:
    """The tenacity wait strategy for ``config.jitter``."""
    base, factor, cap = config.base_delay, config.backoff_factor, config.max_delay
    if config.jitter == "full":
        return FullJitterWait(base=base, factor=factor, cap=cap, rng=rng)
    if config.jitter == "equal":
        return EqualJitterWait(base=base, factor=factor, cap=cap, rng=rng)
    if config.jitter == "decorrelated":
        return DecorrelatedJitterWait(base=base, cap=cap, rng=rng)
    return wait_exponential(multiplier=base, max=cap, exp_base=factor)


def is_retryable_error(exc: BaseException) -> bool:
    """Network errors and timeouts retry; our own refusals and permanent errors don't.

    ``ResilienceError`` (a breaker, limiter or queue refusing, or the timeout budget
    ending) is a decision by a layer, not a failure of the exchange, so it never retries.
    """
    return (
        isinstance(exc, httpx.TransportError)
        and not isinstance(exc, ResilienceError)
        and not isinstance(exc, _PERMANENT)
    )


def describe(outcome: httpx.Response | BaseException) -> str:
    """Why an outcome may be retried, for logs: ``"status 503"`` or the error's class.

    Never the message or URL, which may carry secrets.
    """
    if isinstance(outcome, httpx.Response):
        return f"status {outcome.status_code}"
    return type(outcome).__name__


class RetryPolicy:
    """What may be retried, when to stop, and how long to wait: one per transport.

    Per logical request the transport keeps a ``tenacity.RetryCallState`` (from
    ``new_state()``), created only when a first retry is considered.

    Args:
        config: the retry configuration.
        rng: the random source for jitter; a fresh ``random.Random()`` by default.
    """

    __slots__ = ("_retrying", "_statuses", "config", "wait")

    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.wait = make_wait(config, rng if rng is not None else random.Random())
        self._statuses = config.retry_on_status
        # Holds the strategies; its loop is never run (it costs ~28 µs per call).
        self._retrying = tenacity.Retrying(
            wait=self.wait,
            stop=tenacity.stop_after_attempt(config.max_retries + 1),
            reraise=True,
        )

    def allows(self, request: httpx.Request) -> bool:
        """Whether ``request`` may be sent more than once at all.

        ``extensions["retry"] = False`` forbids it; a one-shot body stream (anything but
        an ``httpx.ByteStream``) can't be replayed; otherwise ``retry_methods``, an
        ``Idempotency-Key`` header or ``extensions["retry"] = True`` allow it.

        Raises:
            ConfigError: the ``retry`` extension is not a bool (``"no"`` or ``0`` would
                otherwise be read as "retry as configured").
        """
        opt_in = request.extensions.get("retry")
        if opt_in is not None and opt_in is not True and opt_in is not False:
            raise ConfigError("extensions.retry", f"must be True or False, got {opt_in!r}")
        if self.config.max_retries == 0:
            return False
        if opt_in is False or not isinstance(request.stream, httpx.ByteStream):
            return False
        return (
            opt_in is True
            or request.method in self.config.retry_methods
            or "idempotency-key" in request.headers
        )

    def retry_status(self, status_code: int) -> bool:
        """Whether a response with this status is retried (``retry_on_status``)."""
        return status_code in self._statuses

    def new_state(self) -> tenacity.RetryCallState:
        """Fresh per-request state: attempt 1 made, no delay yet."""
        return tenacity.RetryCallState(self._retrying, None, (), {})

    def exhausted(self, state: tenacity.RetryCallState) -> bool:
        """Whether ``max_retries`` retries were already made."""
        return bool(self._retrying.stop(state))

    def backoff(self, state: tenacity.RetryCallState) -> float:
        """The jittered delay before the next retry; remembered in ``state``."""
        delay = float(self.wait(state))
        state.upcoming_sleep = delay
        return delay

    def delay(
        self, state: tenacity.RetryCallState, headers: httpx.Headers | None, wall_now: float
    ) -> float | None:
        """Seconds to wait before the next retry, or ``None`` for "do not retry".

        A server ``Retry-After`` (when ``respect_retry_after``) replaces the backoff; if it
        asks for more than ``max_retry_after`` the answer is ``None``.

        Args:
            state: this request's state (``attempt_number`` = attempts made so far).
            headers: the headers of the response being retried, or ``None`` after an
                exception.
            wall_now: current Unix time, to read a ``Retry-After`` HTTP-date.
        """
        computed = self.backoff(state)
        if headers is None or not self.config.respect_retry_after:
            return computed
        hint = parse_retry_after(headers, wall_now)
        if hint is None:
            return computed
        if hint > self.config.max_retry_after:
            return None
        return hint

    @staticmethod
    def next_attempt(state: tenacity.RetryCallState) -> None:
        """Record that one more attempt is being made."""
        state.prepare_for_next_attempt()
