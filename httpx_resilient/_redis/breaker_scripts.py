"""Lua for shared circuit breakers: one atomic script per step, timed by the server.

Breakers (hash per key; fields ``s`` state 0/1/2 = closed/open/half-open, ``g``
generation, ``f`` failures, ``k`` probe successes, ``p`` probes in flight, ``o`` opened
at, ``i`` isolated, ``pa`` last probe admitted at; in failure-rate mode ``wb``, ``wc``,
``wf`` and the rings ``c0..c19`` / ``x0..x19``) mirror ``_breaker.policy.BreakerPolicy``.
"""

from __future__ import annotations

from .scripts import COMMON

__all__ = ["BREAKER_ADMIT", "BREAKER_CONTROL", "BREAKER_SETTLE"]

_BREAKER = (
    COMMON
    + """
local CLOSED, OPEN, HALF = 0, 1, 2
local N = 20
local function rec_load(key)
  local h = redis.call('HMGET', key, 's', 'g', 'f', 'k', 'p', 'o', 'i', 'pa')
  if not h[1] then return nil end
  return {s = tonumber(h[1]), g = tonumber(h[2]), f = tonumber(h[3]), k = tonumber(h[4]),
          p = tonumber(h[5]), o = tonumber(h[6]), i = tonumber(h[7]), pa = tonumber(h[8])}
end
local function rec_new()
  return {s = CLOSED, g = 0, f = 0, k = 0, p = 0, o = 0, i = 0, pa = 0}
end
local function clear_window(key)
  local fields = {'wb', 'wc', 'wf'}
  for n = 0, N - 1 do
    fields[#fields + 1] = 'c' .. n
    fields[#fields + 1] = 'x' .. n
  end
  redis.call('HDEL', key, unpack(fields))
end
local function move(key, r, new, now, rate_mode)
  r.s = new
  r.g = r.g + 1
  r.f, r.k, r.p = 0, 0, 0
  if new == OPEN then r.o = now end
  if rate_mode then clear_window(key) end
end
local function rec_save(key, r, ttl)
  redis.call('HSET', key, 's', r.s, 'g', fmt(r.g), 'f', fmt(r.f), 'k', fmt(r.k),
             'p', fmt(r.p), 'o', fmt(r.o), 'i', r.i, 'pa', fmt(r.pa))
  if r.i == 1 then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ttl) end
end
local function retry_of(r, recovery, now)
  if r.s == OPEN and r.i == 0 then return fmt(math.max(0, r.o + recovery - now)) end
  return '-1'
end
"""
)

BREAKER_ADMIT = (
    _BREAKER
    + """
-- ARGV: now, recovery_timeout, half_open_max_calls, probe lease, ttl ms, rate mode.
-- Returns {ticket (-1: refused), old state, new state, retry after ('-1': none),
--          isolated, consecutive failures}.
local now = now_of(ARGV[1])
local recovery, half_max = tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, ttl, rate_mode = tonumber(ARGV[4]), ARGV[5], ARGV[6] == '1'
local key = KEYS[1]
local r = rec_load(key)
if not r then return {0, CLOSED, CLOSED, '-1', 0, 0} end
local old = r.s
local changed = false
if r.s == OPEN and r.i == 0 and now >= r.o + recovery then
  move(key, r, HALF, now, rate_mode)
  changed = true
end
local ticket = -1
if r.s == CLOSED then
  ticket = r.g * 2
elseif r.s == HALF then
  if r.p >= half_max and now - r.pa >= lease then
    -- probes never settled (their process died): forget them
    r.g = r.g + 1
    r.p, r.k = 0, 0
  end
  if r.p < half_max then
    r.p = r.p + 1
    r.pa = now
    ticket = r.g * 2 + 1
    changed = true
  end
end
if changed then rec_save(key, r, ttl) end
return {ticket, old, r.s, retry_of(r, recovery, now), r.i, r.f}
"""
)

BREAKER_SETTLE = (
    _BREAKER
    + """
-- ARGV: now, ticket, outcome ('s' | 'f' | 'r'), slow, failure_threshold,
--       success_threshold, failure rate % (0: off), bucket width, minimum_calls, ttl ms.
-- Returns {1 applied | 0 nothing to do | -1 stale ticket, old state, new state}.
local now = now_of(ARGV[1])
local ticket, outcome, slow = tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
local threshold, needed = tonumber(ARGV[5]), tonumber(ARGV[6])
local rate, width, minimum, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local rate_mode = rate > 0
local key = KEYS[1]
local r = rec_load(key) or rec_new()
local probe = ticket % 2 == 1
if math.floor(ticket / 2) ~= r.g then return {-1, r.s, r.s} end
local old = r.s
if outcome == 'r' then
  if not probe or r.p <= 0 then return {0, old, old} end
  r.p = r.p - 1
  rec_save(key, r, ttl)
  return {1, old, r.s}
end
local function count(failed)
  local index = math.floor(now / width)
  local w = redis.call('HMGET', key, 'wb', 'wc', 'wf')
  local wb, wc, wf = tonumber(w[1]) or 0, tonumber(w[2]) or 0, tonumber(w[3]) or 0
  local step = index - wb
  if step >= N then
    clear_window(key)
    wb, wc, wf = index, 0, 0
  elseif step > 0 then
    for n = wb + 1, index do
      local slot = n % N
      local c = redis.call('HMGET', key, 'c' .. slot, 'x' .. slot)
      wc = wc - (tonumber(c[1]) or 0)
      wf = wf - (tonumber(c[2]) or 0)
      redis.call('HDEL', key, 'c' .. slot, 'x' .. slot)
    end
    wb = index
  end
  local slot = wb % N
  redis.call('HINCRBY', key, 'c' .. slot, 1)
  wc = wc + 1
  if failed then
    redis.call('HINCRBY', key, 'x' .. slot, 1)
    wf = wf + 1
  end
  redis.call('HSET', key, 'wb', fmt(wb), 'wc', fmt(wc), 'wf', fmt(wf))
  return wc >= minimum and wf * 100 >= rate * wc
end
if outcome == 's' then
  if probe then
    r.p = math.max(0, r.p - 1)
    if slow then
      move(key, r, OPEN, now, rate_mode)
    else
      r.k = r.k + 1
      if r.k >= needed then move(key, r, CLOSED, now, rate_mode) end
    end
  else
    r.f = 0
    if rate_mode and count(slow) then move(key, r, OPEN, now, rate_mode) end
  end
elseif probe then
  r.p = math.max(0, r.p - 1)
  move(key, r, OPEN, now, rate_mode)
else
  r.f = r.f + 1
  if rate_mode and count(true) then
    move(key, r, OPEN, now, rate_mode)
  elseif r.f >= threshold then
    move(key, r, OPEN, now, rate_mode)
  end
end
rec_save(key, r, ttl)
return {1, old, r.s}
"""
)

BREAKER_CONTROL = (
    _BREAKER
    + """
-- ARGV: now, mode ('open' | 'isolate' | 'reset' | 'state'), recovery_timeout, ttl ms,
--       rate mode. Returns {old state, new state, retry after, isolated}.
local now = now_of(ARGV[1])
local mode, recovery, ttl, rate_mode = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
local key = KEYS[1]
local r = rec_load(key)
if mode == 'state' or (mode == 'reset' and not r) then
  if not r then return {CLOSED, CLOSED, '-1', 0} end
  local s = r.s
  if s == OPEN and r.i == 0 and now >= r.o + recovery then s = HALF end
  return {r.s, s, retry_of(r, recovery, now), r.i}
end
r = r or rec_new()
local old = r.s
if mode == 'reset' then
  r.i = 0
  move(key, r, CLOSED, now, rate_mode)
else
  if mode == 'isolate' then r.i = 1 else r.i = 0 end
  if r.s == OPEN then r.o = now else move(key, r, OPEN, now, rate_mode) end
end
rec_save(key, r, ttl)
return {old, r.s, retry_of(r, recovery, now), r.i}
"""
)
