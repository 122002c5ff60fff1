"""Keyed fingerprints of request credentials, so keys never hold the raw secret.

Cache and dedup keys include ``fingerprint()`` of every credential header
(``Authorization``, ``Proxy-Authorization``, ``Cookie`` and the common API-key headers):
one credential's response is never served to another, and a key or log line never
reveals the credential.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .faces import AnyHeaders

from .headers import header_items

__all__ = ["CREDENTIAL_HEADERS", "PROCESS_KEY", "fingerprint"]

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

#: A random key for this process: fingerprints can't be precomputed or compared
#: across processes. Storages shared between processes pass a key of their own.
PROCESS_KEY = os.urandom(32)

# One keyed hasher per key, copied per use: cheaper than keying a new one each time.
_KEYED: dict[bytes, hashlib.blake2b] = {}


def fingerprint(headers: AnyHeaders, key: bytes = PROCESS_KEY) -> str:
    """Return a keyed BLAKE2b digest of the credential headers, or ``""`` if none."""
    parts: list[bytes] | None = None
    for _, lowered, value in header_items(headers):
        if lowered in CREDENTIAL_HEADERS:
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
