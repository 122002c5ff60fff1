"""Generated twins of the face modules of httpx_resilient._dedup.

See scripts/gen_httpx2.py.
"""
