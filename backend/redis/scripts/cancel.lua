-- cancel.lua: cancels a pending, scheduled, retrying or processing task.
-- It wakes nobody. Its unique key stays with it: a canceled task does
-- not hold it, and holds it again if retried (see enqueue.lua).
--
--   KEYS[1]  the task key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  cancel channel, ARGV[4] queue prefix, ARGV[5] queue, ARGV[6] id
--
-- Returns {1, fields} when canceled, {0} when there is no such task, {2}
-- when it is already final.
local now, pre, q, id, key = clockNow(ARGV[1]), ARGV[4], ARGV[5], ARGV[6], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'y', 'a', 'w', 'st', 'h', 'pr')
local s = f[1]
if not s then return {0} end
if s == 'c' or s == 'f' or s == 'x' then return {2} end
leave(pre, s, id, f[2], f[7])
if s == 'a' then
  redis.call('HSET', key, 'h', attemptRow(f[6], f[3], f[4], f[5], now, 'canceled', 'canceled'))
  redis.call('HDEL', key, 'tk', 'w', 'le')
end
redis.call('HSET', key, 's', 'x', 'ft', now)
toFinal(pre, 'canceled', id, now)
evTask(pre, q, id)
redis.call('PUBLISH', ARGV[3], id)
flush(now)
return {1, redis.call('HGETALL', key)}
