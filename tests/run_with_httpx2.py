"""Run pytest with httpx2 standing in for httpx (``httpx2.alias_httpx()``).

The alias must be set before anything imports httpx, so this wraps pytest's entry
point: ``python tests/run_with_httpx2.py -m integration``.
"""

from __future__ import annotations

import sys

import httpx2

httpx2.alias_httpx()

import httpx  # noqa: E402
import pytest  # noqa: E402

if __name__ == "__main__":
    assert httpx.__name__ == "httpx2", "the alias did not take effect"
    sys.exit(pytest.main(["-W", "ignore::pytest.PytestAssertRewriteWarning", *sys.argv[1:]]))
