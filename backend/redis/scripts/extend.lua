-- extend.lua: renews leases.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  lease duration µs: the leases expire that long after now
--   ARGV[3…] queue prefix, id, token: triples
--
-- Returns per lease 1 when still held (and extended), 2 when the task was
-- canceled, 0 when the lease is gone otherwise.
local expires = clockAdd(clockNow(ARGV[1]), ARGV[2])
local res = {}
for i = 3, #ARGV, 3 do
  local pre, id = ARGV[i], ARGV[i + 1]
  local key = pre .. 't:' .. id
  local f = redis.call('HMGET', key, 'tk', 's')
  if f[1] == ARGV[i + 2] and f[2] == 'a' then
    redis.call('HSET', key, 'le', expires)
    redis.call('ZADD', pre .. 'lease', expires, id)
    res[#res + 1] = 1
  elseif f[2] == 'x' then
    res[#res + 1] = 2
  else
    res[#res + 1] = 0
  end
end
return res
