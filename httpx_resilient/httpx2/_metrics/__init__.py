"""Generated twins of the face modules of httpx_resilient._metrics.

See scripts/gen_httpx2.py.
"""
