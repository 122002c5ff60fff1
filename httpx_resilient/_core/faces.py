"""What shared modules know of the two faces (httpx and httpx2), without importing either.

Shared modules (configs, sans-IO policies, storages, helpers) take requests, responses
and headers of either package: they hint them with the unions below (read only by type
checkers) and touch only what both packages have. ``mismatch`` words the error a face
raises when it is handed the other package's client, request or transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    import httpx
    import httpx2

    AnyRequest: TypeAlias = httpx.Request | httpx2.Request
    AnyResponse: TypeAlias = httpx.Response | httpx2.Response
    AnyHeaders: TypeAlias = httpx.Headers | httpx2.Headers
    AnyURL: TypeAlias = httpx.URL | httpx2.URL

__all__ = ["FACE_MODULES", "mismatch"]

#: The package each face is built on -> the module to import that face from.
FACE_MODULES = {"httpx": "httpx_resilient", "httpx2": "httpx_resilient.httpx2"}


def mismatch(what: str, value: object, face: str) -> str | None:
    """The message for ``value`` (named ``what``) built on the other face's package.

    Args:
        what: how the caller names the value (``"inner"``, ``"request"``).
        value: the object that is not of ``face``'s package.
        face: the package the refusing face is built on (``httpx.__name__``).

    Returns:
        The message naming the fix, or ``None`` when ``value`` is of neither package.
    """
    package = type(value).__module__.split(".")[0]
    if package not in FACE_MODULES or package == face:
        return None
    return (
        f"{what} is an {package} object, but this is the {face} face of httpx_resilient: "
        f"with {package}, import the same names from {FACE_MODULES[package]}"
    )
