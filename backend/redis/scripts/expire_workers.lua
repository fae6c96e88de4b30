-- expire_workers.lua: forgets workers whose heartbeat ran out (expiry <=
-- now), each with a worker_update (stopping).
--
--   KEYS[1]  the workers zset
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel,
--   ARGV[3]  worker hash prefix
--   ARGV[4]  the leadership hash ("" when the caller checked), ARGV[5] term
--
-- Returns how many workers it forgot (at most 1000 per call), or -1
-- when the term is not the leader's.
local now = clockNow(ARGV[1])
if not fenced(ARGV[4], ARGV[5], now) then return -1 end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
if #ids == 0 then return 0 end
local evs = {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  local f = redis.call('HMGET', key, 'info', 'hb')
  redis.call('DEL', key)
  if f[1] then evs[#evs + 1] = {'w', f[1], 'gone', f[2] or ''} end
end
redis.call('ZREM', KEYS[1], unpack(ids))
if #evs > 0 then redis.call('PUBLISH', ARGV[2], cjson.encode({now, evs})) end
return #ids
