-- clock.lua comes first in every script: the one clock of the backend.
--
-- Every time a script stores or compares comes from the Redis server's
-- TIME, plus an offset that tests use to move time (Options.ClockOffset;
-- 0 in production), never from the clocks of the hosts that call. On a
-- cluster each queue's times come from the master that holds it.
--
-- Redis replicates the effects of a script, not the script (the only
-- mode since Redis 7, the default since 5), so a script that reads TIME
-- may write; the backend needs Redis 6.2 or later anyway (LPOP count).
--
-- clockNow returns now in µs as a decimal string: offset is the test
-- offset in µs, as a decimal string, or "=" and a time in µs that is now
-- (Options.Clock: a test that needs times to the µs). Lua doubles hold
-- µs since the epoch exactly (below 2^53), and '%d' formats them without
-- an exponent.
local function clockNow(offset)
  if string.sub(offset, 1, 1) == '=' then return string.sub(offset, 2) end
  local t = redis.call('TIME')
  return string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]) + (tonumber(offset) or 0))
end
-- clockAdd returns the µs string t plus d µs.
local function clockAdd(t, d)
  return string.format('%d', tonumber(t) + tonumber(d))
end
