-- resign.lua: gives up leadership if the holder holds it under the term,
-- unexpired. The term counter stays.
--
--   KEYS[1]  the leadership hash
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] holder, ARGV[3] term
local now = clockNow(ARGV[1])
local l = redis.call('HMGET', KEYS[1], 'h', 't', 'u')
if l[1] == ARGV[2] and l[2] == ARGV[3] and tonumber(now) < tonumber(l[3] or '0') then
  redis.call('HSET', KEYS[1], 'h', '', 'u', '0')
end
return 1
