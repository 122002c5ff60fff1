"""Lua shared by every script of the Redis backend: the clock and number formatting.

Every script reads the time with ``redis.call('TIME')`` unless its first argument is a
number (tests pass one to drive the arithmetic with a fake clock). Floats go back to
Python as strings (``%.17g``): Redis would truncate a Lua number to an integer.
The scripts themselves: ``bucket_scripts.py`` (rate limits), ``breaker_scripts.py``.
"""

from __future__ import annotations

__all__ = ["COMMON"]

COMMON = """
if redis.replicate_commands then redis.replicate_commands() end
local function now_of(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.17g', x) end
"""
