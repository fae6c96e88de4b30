-- workers.lua: lists live workers (expiry > now).
--
--   KEYS[1]  the workers zset
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] worker hash prefix
--
-- Returns {info JSON, stopping flag, last heartbeat µs} triples, flattened.
local now = clockNow(ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local f = redis.call('HMGET', ARGV[2] .. id, 'info', 'stop', 'hb', 'gs')
  if f[1] then
    out[#out + 1] = f[1]
    out[#out + 1] = ((f[2] == '1' or f[4] == '1') and '1') or ''
    out[#out + 1] = f[3] or ''
  end
end
return out
