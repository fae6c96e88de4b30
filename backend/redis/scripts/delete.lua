-- delete.lua: removes a final task and frees its unique key. It wakes
-- nobody.
--
--   KEYS[1]  the task key
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  queue prefix, ARGV[4] queue, ARGV[5] id,
--   ARGV[6]  the id index hash ("" on a cluster: the caller forgets the id)
--
-- Returns 1 when deleted, 0 when there is no such task, 2 when it is not final.
local now, pre, q, id, key = clockNow(ARGV[1]), ARGV[3], ARGV[4], ARGV[5], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'uk')
local s = f[1]
if not s then return 0 end
local sets = {c = 'completed', f = 'failed', x = 'canceled'}
if not sets[s] then return 2 end
evTask(pre, q, id, 'd')
zrem(pre .. sets[s], id)
redis.call('DEL', key)
if f[2] then
  local uk = pre .. 'u:' .. f[2]
  if redis.call('GET', uk) == id then redis.call('DEL', uk) end
end
if ARGV[6] ~= '' then redis.call('HDEL', ARGV[6], id) end
flush(now)
return 1
