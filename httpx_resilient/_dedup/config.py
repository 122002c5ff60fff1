"""``DedupConfig``: the de-duplication layer's validated, immutable settings."""

from __future__ import annotations

from dataclasses import dataclass

from .._core.credentials import credential_names
from .._core.outcomes import ConfigError
from .._core.validate import MIB, frozen_upper, int_at_least

__all__ = ["DedupConfig"]


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """Identical in-flight requests share one upstream call.

    Attributes:
        methods: methods eligible (default GET and HEAD; only safe methods allowed).
        max_body_bytes: only a response whose declared ``Content-Length`` is at most
            this is shared (default 10 MiB); others stream to the leader's caller.
        credential_headers: more request header names that carry a credential (default
            none; names containing ``token``, ``key``, ``secret``, ``auth``,
            ``session``, ``signature`` or ``password`` and the usual ones always count):
            callers differing in one never share.
    """

    methods: frozenset[str] = frozenset({"GET", "HEAD"})
    max_body_bytes: int = 10 * MIB
    credential_headers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        o = "DedupConfig"
        methods = frozen_upper(o, "methods", self.methods)
        unsafe = methods - {"GET", "HEAD", "OPTIONS", "TRACE"}
        if unsafe:
            raise ConfigError(f"{o}.methods", f"only safe methods can share, got {sorted(unsafe)}")
        object.__setattr__(self, "methods", methods)
        int_at_least(o, "max_body_bytes", self.max_body_bytes, 0)
        names = credential_names(o, self.credential_headers)
        object.__setattr__(self, "credential_headers", names)
