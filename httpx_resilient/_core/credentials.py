"""Which request headers carry a credential, and keyed fingerprints of them.

The rule (one for the cache, dedup and redaction): a header is a credential when its
name is one of ``CREDENTIAL_HEADERS`` (``Authorization``, ``Proxy-Authorization``,
``Cookie`` and common API-key headers), when its lower-cased name contains one of
``CREDENTIAL_PARTS`` (``token``, ``key``, ``secret``, ``auth``, ``session``,
``signature``, ``password``: ``X-Goog-Api-Key``, ``PRIVATE-TOKEN``,
``Ocp-Apim-Subscription-Key``...), or when it is named in the layer's
``credential_headers``. Cache and dedup keys include ``fingerprint()`` of those headers:
one credential's response is never served to another, and a key or log line never
reveals the credential. Erring towards "credential" only costs sharing between callers
who differ in such a header.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .faces import AnyHeaders

from .headers import header_items
from .outcomes import ConfigError

__all__ = [
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_PARTS",
    "DEFAULT_RULE",
    "PROCESS_KEY",
    "CredentialRule",
    "credential_names",
    "fingerprint",
    "is_credential",
]

#: Lower-case names of the request headers that identify a user.
CREDENTIAL_HEADERS = frozenset(
    {
        b"authorization",
        b"proxy-authorization",
        b"cookie",
        b"x-api-key",
        b"api-key",
        b"x-auth-token",
        b"x-access-token",
        b"x-amz-security-token",
    }
)

#: A header whose lower-cased name contains one of these carries a credential.
CREDENTIAL_PARTS = (b"token", b"key", b"secret", b"auth", b"session", b"signature", b"password")

_MEMO_LIMIT = 1024  # distinct header names remembered per rule (names are few)


def _matches(lowered: bytes, extra: frozenset[bytes]) -> bool:
    if lowered in CREDENTIAL_HEADERS or lowered in extra:
        return True
    return any(part in lowered for part in CREDENTIAL_PARTS)


class CredentialRule:
    """Whether a lower-cased header name carries a credential (see the module).

    Args:
        extra: more header names (any case) to treat as credentials.

    Answers are memoised per name (bounded), so a check costs one dict lookup.
    """

    __slots__ = ("_extra", "_memo")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._extra = frozenset(name.lower().encode("latin-1") for name in extra)
        self._memo: dict[bytes, bool] = {}

    def __call__(self, lowered: bytes) -> bool:
        found = self._memo.get(lowered)
        if found is None:
            found = _matches(lowered, self._extra)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[lowered] = found
        return found


#: The rule with no extra names.
DEFAULT_RULE = CredentialRule()


def is_credential(name: str | bytes) -> bool:
    """Whether a header of this name (any case) carries a credential (default rule)."""
    raw = name.encode("latin-1") if isinstance(name, str) else name
    return DEFAULT_RULE(raw.lower())


def credential_names(owner: str, value: object) -> frozenset[str]:
    """Validate a ``credential_headers`` setting: header names, returned lower-cased.

    Raises:
        ConfigError: ``value`` is a plain string or holds anything but header names.
    """
    field = f"{owner}.credential_headers"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(field, f"must be a set of header names, got {value!r}")
    names: set[str] = set()
    for name in value:
        if (
            not isinstance(name, str)
            or not name
            or not name.isascii()
            or any(c in name for c in ' \t\r\n:()<>@,;"/[]?={}\\')
        ):
            raise ConfigError(field, f"must hold header names, got {name!r}")
        names.add(name.lower())
    return frozenset(names)


#: A random key for this process: fingerprints can't be precomputed or compared
#: across processes. Storages shared between processes pass a key of their own.
PROCESS_KEY = os.urandom(32)

# One keyed hasher per key, copied per use: cheaper than keying a new one each time.
_KEYED: dict[bytes, hashlib.blake2b] = {}


def fingerprint(
    headers: AnyHeaders, key: bytes = PROCESS_KEY, rule: CredentialRule = DEFAULT_RULE
) -> str:
    """Return a keyed BLAKE2b digest of the credential headers, or ``""`` if none."""
    parts: list[bytes] | None = None
    for _, lowered, value in header_items(headers):
        if rule(lowered):
            if parts is None:
                parts = []
            parts.append(lowered + b"\x00" + value)
    if parts is None:
        return ""
    keyed = _KEYED.get(key)
    if keyed is None:
        if len(_KEYED) > 64:  # keys are few (this process's, each storage's); stay bounded
            _KEYED.clear()
        keyed = _KEYED[key] = hashlib.blake2b(key=key, digest_size=16)
    digest = keyed.copy()
    if len(parts) > 1:
        parts.sort()
    for part in parts:
        digest.update(part)
        digest.update(b"\x01")
    return digest.hexdigest()
