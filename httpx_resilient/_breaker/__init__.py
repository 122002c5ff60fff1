"""Circuit-breaker layer: the sans-IO state machine, the in-process transport and the
variant whose state lives in a backend.
"""

from .shared import SharedCircuitBreakerTransport
from .transport import CircuitBreakerTransport

__all__ = ["CircuitBreakerTransport", "SharedCircuitBreakerTransport"]
