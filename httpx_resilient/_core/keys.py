"""How layers name the thing they keep state for (a host, or one global key)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

__all__ = ["KeyFunc", "host_key", "key_function"]

KeyFunc = Callable[[httpx.Request], str]
"""Maps a request to the key a layer keeps state under."""


def host_key(request: httpx.Request) -> str:
    """``host`` or ``host:port`` of the request's URL; never userinfo or path."""
    url = request.url
    port = url.port
    return url.host if port is None else f"{url.host}:{port}"


def _global_key(request: httpx.Request) -> str:
    return "global"


def key_function(
    choice: str | Callable[[httpx.Request], str],
) -> Callable[[httpx.Request], str]:
    """Turn a config's ``"host"`` / ``"global"`` / callable into a key function."""
    if choice == "host":
        return host_key
    if choice == "global":
        return _global_key
    if callable(choice):
        return choice
    raise ValueError(f"unknown key choice {choice!r}")
