"""Keyed fingerprints of request credentials, so keys never hold the raw secret.

Cache and dedup keys include ``fingerprint()`` of ``Authorization``,
``Proxy-Authorization`` and ``Cookie``: one credential's response is never served to
another, and a key or log line never reveals the credential.
"""

from __future__ import annotations

import hashlib
import os

import httpx

__all__ = ["CREDENTIAL_HEADERS", "PROCESS_KEY", "fingerprint"]

CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")

#: A random key for this process: fingerprints can't be precomputed or compared
#: across processes. Storages shared between processes pass a key of their own.
PROCESS_KEY = os.urandom(32)


def fingerprint(headers: httpx.Headers, key: bytes = PROCESS_KEY) -> str:
    """Return a keyed BLAKE2b digest of the credential headers, or ``""`` if none."""
    parts: list[bytes] = []
    raw = headers.raw
    for name, value in raw:
        lowered = name.lower()
        if lowered in (b"authorization", b"proxy-authorization", b"cookie"):
            parts.append(lowered + b"\x00" + value)
    if not parts:
        return ""
    digest = hashlib.blake2b(key=key, digest_size=16)
    for part in sorted(parts):
        digest.update(part)
        digest.update(b"\x01")
    return digest.hexdigest()
