"""Argument checks of ``ResilientTransport``: each bad value is a ``ConfigError``
naming its field."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from ._core.errors import ConfigError
from ._network import NETWORK_DEFAULTS
from ._ratelimit.config import RateLimitConfig

__all__ = ["grace_of", "layer_config", "rate_limits_of", "refuse_network_with_inner"]

C = TypeVar("C")


def layer_config(name: str, value: object, kind: type[C]) -> C | None:
    """Accept ``None``/``False`` (off), ``True`` (defaults) or a config of ``kind``."""
    if value is None or value is False:
        return None
    if value is True:
        return kind()
    if isinstance(value, kind):
        return value
    raise ConfigError(
        f"ResilientTransport.{name}", f"expected {kind.__name__}, True or None, got {value!r}"
    )


def rate_limits_of(value: object) -> tuple[RateLimitConfig, ...]:
    if value is None:
        return ()
    if isinstance(value, RateLimitConfig):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, RateLimitConfig) for v in value):
        if not value:
            raise ConfigError(
                "ResilientTransport.rate_limit",
                "an empty list adds no limiter: pass None for no rate limit",
            )
        return tuple(value)
    raise ConfigError(
        "ResilientTransport.rate_limit",
        f"expected a RateLimitConfig or a list of them, got {value!r}",
    )


def grace_of(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError("ResilientTransport.close_grace", f"must be seconds >= 0, got {value!r}")
    return float(value)


def refuse_network_with_inner(network: dict[str, object]) -> None:
    """Refuse a network setting given with ``inner=``: it would be silently ignored."""
    for name, value in network.items():
        default = NETWORK_DEFAULTS[name]
        if value is not default and value != default:
            raise ConfigError(
                f"ResilientTransport.{name}",
                "configures the default inner transport, so it cannot be combined "
                "with inner=: set it on your own transport",
            )
