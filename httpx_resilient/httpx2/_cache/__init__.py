"""Generated twins of the face modules of httpx_resilient._cache.

See scripts/gen_httpx2.py.
"""
