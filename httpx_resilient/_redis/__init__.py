"""Redis adapters: the backend (shared rate limits and breakers), its client wrapper and
Lua scripts, and the cache storage. Imported only when used.
"""
