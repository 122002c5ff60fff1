"""How layers name the thing they keep state for (a host, or one global key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .faces import AnyRequest

__all__ = ["KeyFunc", "host_key", "key_function"]

# Shared by both faces: the argument is an httpx.Request or an httpx2.Request.
KeyFunc: TypeAlias = Callable[[Any], str]
"""Maps a request to the key a layer keeps state under."""


def host_key(request: AnyRequest) -> str:
    """``host`` or ``host:port`` of the request's URL; never userinfo or path."""
    url = request.url
    port = url.port
    return url.host if port is None else f"{url.host}:{port}"


def _global_key(request: AnyRequest) -> str:
    return "global"


def key_function(
    choice: str | Callable[[Any], str],
) -> Callable[[Any], str]:
    """Turn a config's ``"host"`` / ``"global"`` / callable into a key function."""
    if choice == "host":
        return host_key
    if choice == "global":
        return _global_key
    if callable(choice):
        return choice
    raise ValueError(f"unknown key choice {choice!r}")
