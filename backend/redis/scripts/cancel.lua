-- cancel.lua: cancels a task that is not final. It wakes nobody.
--
--   KEYS[1]  the task key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel
--   ARGV[3]  cancel channel
--   ARGV[4]  queue prefix
--   ARGV[5]  queue
--   ARGV[6]  id
--
-- Returns {1, fields} when canceled, {0} when there is no such task, {2}
-- when it is already final.
local now, pre, q, id, key = clockNow(ARGV[1]), ARGV[4], ARGV[5], ARGV[6], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'pr', 'a', 'w', 'st', 'h', 'y', 'uk')
local s = f[1]
if not s then return {0} end
if s == 'c' or s == 'f' or s == 'x' then return {2} end
if s == 'p' then
  redis.call('LREM', pre .. 'p:' .. (f[2] or '0'), 1, id)
elseif s == 's' then
  redis.call('ZREM', pre .. 'sched', id)
elseif s == 'r' then
  redis.call('ZREM', pre .. 'retry', id)
elseif s == 'a' then
  redis.call('ZREM', pre .. 'lease', id)
  redis.call('HSET', key, 'h', attemptRow(f[6], f[3], f[4], f[5], now, 'canceled', 'canceled'))
  redis.call('HDEL', key, 'tk', 'w', 'le')
end
redis.call('HSET', key, 's', 'x', 'ft', now)
toFinal(pre, 'canceled', id, now)
if f[8] then
  local uk = pre .. 'u:' .. f[8]
  if redis.call('GET', uk) == id then redis.call('DEL', uk) end
end
ev('t', id, f[7], q, 'x', f[3] or '0')
redis.call('PUBLISH', ARGV[3], id)
flush(now)
return {1, redis.call('HGETALL', key)}
