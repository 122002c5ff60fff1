"""The test suite, generated for the httpx2 face by scripts/gen_httpx2.py."""
