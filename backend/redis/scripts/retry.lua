-- retry.lua: sends a failed or canceled task back to pending, at the back
-- of its priority, with a fresh set of attempts (Attempt and lease losses
-- 0); its history and last error stay, its result, progress, run-at and
-- finish time go, and a deadline already passed is dropped.
--
--   KEYS[1]  the task key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  wake channel, ARGV[4] queue prefix, ARGV[5] queue, ARGV[6] id
--
-- Returns {1, fields}, {0} when there is no such task, {2} when it is
-- neither failed nor canceled.
local now, pre, q, id, key = clockNow(ARGV[1]), ARGV[4], ARGV[5], ARGV[6], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'pr', 'y', 'dl')
local s = f[1]
if not s then return {0} end
if s ~= 'f' and s ~= 'x' then return {2} end
zrem(pre .. (s == 'f' and 'failed' or 'canceled'), id)
redis.call('HSET', key, 's', 'p', 'a', 0)
redis.call('HDEL', key, 'ft', 'ra', 'r', 'pgp', 'pgm', 'pga', 'll')
if f[4] and tonumber(now) >= tonumber(f[4]) then redis.call('HDEL', key, 'dl') end
toBack(pre, q, id, f[2], f[3])
evTask(pre, q, id)
flush(now, ARGV[3])
return {1, redis.call('HGETALL', key)}
