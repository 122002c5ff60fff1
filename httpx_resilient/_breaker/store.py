"""``BreakerStore``: what a shared breaker needs from the place its state lives.

The Redis adapter (``httpx_resilient._redis.breaker``) implements it; the breaker layer
only knows this protocol, so it never imports a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._core.faces import AnyRequest

from .._core.snapshots import CircuitState

__all__ = ["BreakerStore"]


@runtime_checkable
class BreakerStore(Protocol):
    """Breaker state for one ``CircuitBreakerConfig``, shared by every process using it.

    Attributes:
        view: the state this process saw last, per key (no I/O to read).
        opens: transitions to OPEN this process made.
        rejected: calls this process refused.
        probes: half-open probes this process has in flight.
    """

    view: dict[str, CircuitState]
    opens: int
    rejected: int
    probes: int

    async def admit(self, key: str, now: float, request: AnyRequest) -> Any:
        """Admit a call or raise ``CircuitOpenError``; returns a ticket to settle."""

    async def settle(
        self, key: str, ticket: Any, failed: bool | None, now: float, duration: float | None
    ) -> None:
        """Report the outcome (``None``: neither success nor failure) of an admitted call."""

    async def control(self, key: str, mode: str, now: float) -> CircuitState:
        """Read (``"state"``) or change (``"open"``, ``"isolate"``, ``"reset"``) a breaker."""

    async def keys(self, now: float) -> list[str]:
        """Every key with stored state."""
