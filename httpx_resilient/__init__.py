"""httpx_resilient: rate limiting, circuit breaking, retries, de-duplication, HTTP
caching, a priority queue, metrics and health for any ``httpx.AsyncClient``.

Pass ``transport=ResilientTransport(...)`` to a client; runs under asyncio and trio.
Everything importable from here is public; every other module is private. For an
``httpx2.AsyncClient``, import the same names from ``httpx_resilient.httpx2``.

The names load on first use (PEP 562), so that importing the httpx2 face, which runs
this module first, never imports httpx.
"""

import importlib as _importlib
import logging as _logging
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from ._api import *  # noqa: F403
    from ._api import __all__ as __all__
    from ._api import __version__ as __version__

from ._core.redact import install_log_redaction as _install_log_redaction

# A library logs, the application decides where logs go: without this, Python's
# last-resort handler would print our warnings to stderr when nothing is configured.
_logging.getLogger("httpx_resilient").addHandler(_logging.NullHandler())
# Every record of ours is redacted (message, extras, traceback) before any handler.
_install_log_redaction()


def __getattr__(name: str) -> _Any:
    """Load the httpx face's public names (``__all__`` included) on first use."""
    if name.startswith("_") and name not in ("__all__", "__version__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    api = _importlib.import_module("httpx_resilient._api")
    if name != "__all__" and name not in api.__all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(api, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
