"""Lua for shared token buckets: one atomic script per step, timed by the server.

Token buckets (hash per limit and key; fields ``t`` tokens, ``u`` updated, ``r`` refill
rate, ``p`` paused-until, ``a`` last rate change) mirror ``_ratelimit.bucket.TokenBucket``:
every limit contributes four arguments (capacity, configured rate, recovery seconds, max
pause). A bucket's key expires once a fresh bucket would behave the same (full, and
back at its configured rate), plus one second.
"""

from __future__ import annotations

from .scripts import COMMON

__all__ = ["ACQUIRE", "RECOVER", "THROTTLE"]

_BUCKET = (
    COMMON
    + """
local EPS = 1e-9
local function limit(i)
  local j = 4 + (i - 1) * 4
  return tonumber(ARGV[j]), tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
end
local function load(key, cap, base, now)
  local h = redis.call('HMGET', key, 't', 'u', 'r', 'p', 'a')
  local b
  if h[1] then
    b = {t = tonumber(h[1]), u = tonumber(h[2]), r = math.min(tonumber(h[3]), base),
         p = tonumber(h[4]), a = tonumber(h[5])}
  else
    b = {t = cap, u = now, r = base, p = 0, a = now}
  end
  local elapsed = now - b.u
  if elapsed > 0 then
    b.t = math.min(cap, b.t + elapsed * b.r)
    b.u = now
  end
  return b
end
local function save(key, b, cap, base, recovery, now)
  redis.call('HSET', key, 't', fmt(b.t), 'u', fmt(b.u), 'r', fmt(b.r), 'p', fmt(b.p),
             'a', fmt(b.a))
  local full = math.max(b.u, now) - now + (cap - b.t) / b.r
  local back = (base - b.r) / base * recovery
  redis.call('PEXPIRE', key, math.ceil((math.max(full, back) + 1) * 1000))
end
local function report(buckets, bases, recoveries, now, first)
  local out = {first, '0'}
  local back = 0
  for i, b in ipairs(buckets) do
    local left = (bases[i] - b.r) / bases[i] * recoveries[i]
    if left > back then back = left end
    out[#out + 1] = fmt(b.t)
    out[#out + 1] = fmt(b.r)
    out[#out + 1] = fmt(math.max(0, b.p - now))
  end
  out[2] = fmt(back)
  return out
end
"""
)

ACQUIRE = (
    _BUCKET
    + """
-- ARGV: now, cost, mode ('take' | 'peek' | 'refund'), then 4 per limit.
-- Returns {wait, seconds to full rate, then tokens, rate, pause left per bucket}.
local now = now_of(ARGV[1])
local cost = tonumber(ARGV[2])
local mode = ARGV[3]
local buckets, caps, bases, recoveries = {}, {}, {}, {}
local wait = 0
for i, key in ipairs(KEYS) do
  local cap, base, recovery = limit(i)
  local b = load(key, cap, base, now)
  buckets[i], caps[i], bases[i], recoveries[i] = b, cap, base, recovery
  local w = 0
  if b.p > now then w = b.p - now end
  local missing = cost - b.t
  if missing > EPS then w = w + missing / b.r end
  if w > wait then wait = w end
end
if mode == 'refund' then
  wait = 0
  for i, key in ipairs(KEYS) do
    local b = buckets[i]
    b.t = math.min(caps[i], b.t + cost)
    save(key, b, caps[i], bases[i], recoveries[i], now)
  end
elseif mode == 'take' and wait <= 0 then
  for i, key in ipairs(KEYS) do
    local b = buckets[i]
    b.t = b.t - cost
    save(key, b, caps[i], bases[i], recoveries[i], now)
  end
end
return report(buckets, bases, recoveries, now, fmt(wait))
"""
)

THROTTLE = (
    _BUCKET
    + """
-- ARGV: now, pause seconds ('' for none), decrease ('1' | '0'), then 4 per limit.
local now = now_of(ARGV[1])
local pause = ARGV[2]
local decrease = ARGV[3] == '1'
local buckets, bases, recoveries = {}, {}, {}
for i, key in ipairs(KEYS) do
  local cap, base, recovery, max_pause = limit(i)
  local b = load(key, cap, base, now)
  if pause ~= '' then
    local untl = now + math.min(math.max(0, tonumber(pause)), max_pause)
    if untl > b.u then
      b.t = math.min(1, b.t + (untl - b.u) * b.r)
      b.u = untl
      b.p = untl
      if untl > b.a then b.a = untl end
    end
  end
  if decrease then
    b.r = math.max(b.r * 0.7, base * 0.01)
    if now > b.a then b.a = now end
  end
  save(key, b, cap, base, recovery, now)
  buckets[i], bases[i], recoveries[i] = b, base, recovery
end
return report(buckets, bases, recoveries, now, '0')
"""
)

RECOVER = (
    _BUCKET
    + """
-- ARGV: now, '', '', then 4 per limit. Raises lowered rates linearly in time.
local now = now_of(ARGV[1])
local buckets, bases, recoveries = {}, {}, {}
for i, key in ipairs(KEYS) do
  local cap, base, recovery = limit(i)
  local exists = redis.call('EXISTS', key) == 1
  local b = load(key, cap, base, now)
  if exists and b.r < base and now > b.a then
    b.r = math.min(base, b.r + base * (now - b.a) / recovery)
    b.a = now
    save(key, b, cap, base, recovery, now)
  end
  buckets[i], bases[i], recoveries[i] = b, base, recovery
end
return report(buckets, bases, recoveries, now, '0')
"""
)
