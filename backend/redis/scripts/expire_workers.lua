-- expire_workers.lua: forgets workers whose heartbeat ran out.
--
--   KEYS[1]  the workers zset
--   ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] worker hash prefix
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #ids == 0 then return 0 end
local evs = {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  local info = redis.call('HGET', key, 'info') or cjson.encode({id = id})
  redis.call('DEL', key)
  evs[#evs + 1] = {'w', info, 'gone'}
end
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], evs}))
return #ids
