-- delete.lua: removes a final task. It wakes nobody.
--
--   KEYS[1]  the task key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  queue prefix, ARGV[4] queue, ARGV[5] id
--
-- Returns 1 when deleted, 0 when there is no such task, 2 when it is not final.
local now, pre, q, id, key = clockNow(ARGV[1]), ARGV[3], ARGV[4], ARGV[5], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'uk', 'y', 'a')
local s = f[1]
if not s then return 0 end
local sets = {c = 'completed', f = 'failed', x = 'canceled'}
if not sets[s] then return 2 end
redis.call('ZREM', pre .. sets[s], id)
redis.call('DEL', key)
if f[2] then
  local uk = pre .. 'u:' .. f[2]
  if redis.call('GET', uk) == id then redis.call('DEL', uk) end
end
ev('t', id, f[3], q, 'd', f[4] or '0')
flush(now)
return 1
