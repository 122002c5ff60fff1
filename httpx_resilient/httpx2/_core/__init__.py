"""Generated twins of the face modules of httpx_resilient._core.

See scripts/gen_httpx2.py.
"""
