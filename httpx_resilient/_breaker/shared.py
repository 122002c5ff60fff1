"""``SharedCircuitBreakerTransport``: the breaker layer when state lives in a backend.

``CircuitBreakerTransport(inner, CircuitBreakerConfig(backend=RedisBackend(...)))``
builds this subclass (the in-process class is untouched, so its hot path costs what it
did). Admission and settling await the backend's store; the outcome rules, logging and
hooks are the in-process layer's. Manual control must reach every process, so it is
async here: ``await transport.aforce_open(key)``, ``aisolate``, ``areset``, ``astate``;
the synchronous ``force_open`` / ``isolate`` / ``reset`` raise ``RuntimeError`` and
``state(key)`` returns the state this process saw last (no I/O).
"""

from __future__ import annotations

import httpx

from .._core.clock import Clock
from .._core.errors import ConfigError, refusal
from .._core.outcomes import Refused
from .._core.snapshots import BreakerStatistics, CircuitState
from .config import CircuitBreakerConfig
from .store import BreakerStore
from .transport import CircuitBreakerTransport, StateHook

__all__ = ["SharedCircuitBreakerTransport"]


class SharedCircuitBreakerTransport(CircuitBreakerTransport):
    """Circuit breakers whose state is shared through ``config.backend`` (Redis).

    Args: as ``CircuitBreakerTransport``.

    Raises:
        ConfigError: ``config.backend`` cannot hold breaker state.
    """

    _shared = True

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        config: CircuitBreakerConfig,
        *,
        clock: Clock | None = None,
        on_state_change: StateHook | None = None,
    ) -> None:
        super().__init__(inner, config, clock=clock, on_state_change=on_state_change)
        factory = getattr(config.backend, "circuit_breaker_store", None)
        if not callable(factory):
            raise ConfigError(
                "CircuitBreakerConfig.backend",
                f"must be None or a RedisBackend, got {config.backend!r}",
            )
        store = factory(config, policy=self._policy, on_transition=self._transition)
        if not isinstance(store, BreakerStore):
            raise ConfigError("CircuitBreakerConfig.backend", "returned no breaker store")
        self._store = store

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = self._key(request)
        clock = self._clock
        store = self._store
        try:
            ticket = await store.admit(key, clock.now(), request)
        except Refused as refused:  # shared code refuses; this face names the error
            raise refusal(refused, request) from refused.__cause__
        start = clock.now() if self._time_calls else 0.0
        self._in_flight += 1
        failed: bool | None = None
        try:
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                failed = self._judge_error(exc)
                raise
            if self._is_failure is None:  # the default rule, without a coroutine
                failed = response.status_code >= 500
            else:
                failed = await self._judge_response(response)
            return response
        finally:
            self._in_flight -= 1
            now = clock.now()
            duration = now - start if self._time_calls else None
            await store.settle(key, ticket, failed, now, duration)

    # -- manual control and reading --------------------------------------------------

    def state(self, key: str) -> CircuitState:
        """The state of ``key`` as this process last saw it (no I/O; see ``astate``)."""
        if key in self._store.view:
            return self._store.view[key]
        return self._policy.state(key, self._clock.now())

    async def _control(self, key: str, mode: str, now: float) -> CircuitState:
        try:
            return await self._store.control(key, mode, now)
        except Refused as refused:  # the backend is out in "raise" mode
            raise refusal(refused) from refused.__cause__

    async def astate(self, key: str) -> CircuitState:
        """The shared state of the breaker for ``key`` now."""
        return await self._control(key, "state", self._clock.now())

    async def aforce_open(self, key: str) -> None:
        """Open the shared breaker for ``key``; it recovers after ``recovery_timeout``."""
        await self._control(key, "open", self._clock.now())

    async def aisolate(self, key: str) -> None:
        """Open the shared breaker for ``key`` and hold it open until ``areset``."""
        await self._control(key, "isolate", self._clock.now())

    async def areset(self, key: str | None = None) -> None:
        """Close the shared breaker for ``key`` (every breaker under the prefix for None).

        Other processes that cached an OPEN verdict keep refusing until its retry time.
        """
        now = self._clock.now()
        try:
            keys = [key] if key is not None else await self._store.keys(now)
        except Refused as refused:
            raise refusal(refused) from refused.__cause__
        for k in keys:
            await self._control(k, "reset", now)
        self._policy.reset(key)

    def _manual(self, name: str) -> RuntimeError:
        return RuntimeError(
            f"breaker state is shared through {self._config.backend!r}: "
            f"use `await transport.a{name}(...)`"
        )

    def force_open(self, key: str) -> None:
        raise self._manual("force_open")

    def isolate(self, key: str) -> None:
        raise self._manual("isolate")

    def reset(self, key: str | None = None) -> None:
        raise self._manual("reset")

    def statistics(self) -> BreakerStatistics:
        """Like the in-process layer's; states are as this process last saw them."""
        store, policy = self._store, self._policy
        states, probes = policy.peek(self._clock.now())
        states.update(store.view)
        return BreakerStatistics(
            states=states,
            opens=store.opens + policy.opens,
            rejected=store.rejected + policy.rejected,
            probes_in_flight=store.probes + probes,
            calls_in_flight=self._in_flight,
        )
