"""Generated twins of the face modules of httpx_resilient._retry.

See scripts/gen_httpx2.py.
"""
