-- workers.lua: lists live workers.
--
--   KEYS[1]  the workers zset
--   ARGV[1]  now µs, ARGV[2] worker hash prefix
--
-- Returns {info JSON, stop flag} pairs, flattened.
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local f = redis.call('HMGET', ARGV[2] .. id, 'info', 'stop')
  if f[1] then
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or ''
  end
end
return out
