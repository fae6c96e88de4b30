-- expire_workers.lua: forgets workers whose heartbeat ran out.
--
--   KEYS[1]  the workers zset
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  worker hash prefix
--
-- Returns how many workers it forgot (at most 1000 per call).
local now = clockNow(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
if #ids == 0 then return 0 end
local evs = {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  local f = redis.call('HMGET', key, 'info', 'hb')
  redis.call('DEL', key)
  evs[#evs + 1] = {'w', f[1] or cjson.encode({id = id}), 'gone', f[2] or ''}
end
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('PUBLISH', ARGV[2], cjson.encode({now, evs}))
return #ids
