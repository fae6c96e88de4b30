-- extend.lua: renews leases.
--
--   KEYS[1]  routing key
--   ARGV[1]  new lease expiry µs
--   ARGV[2…] queue prefix, id, token: triples
--
-- Returns per lease 1 when still held (and extended), 2 when the task was
-- canceled, 0 when the lease is gone otherwise.
local res = {}
for i = 2, #ARGV, 3 do
  local pre, id = ARGV[i], ARGV[i + 1]
  local key = pre .. 't:' .. id
  local f = redis.call('HMGET', key, 'tk', 's')
  if f[1] == ARGV[i + 2] and f[2] == 'a' then
    redis.call('HSET', key, 'le', ARGV[1])
    redis.call('ZADD', pre .. 'lease', ARGV[1], id)
    res[#res + 1] = 1
  elseif f[2] == 'x' then
    res[#res + 1] = 2
  else
    res[#res + 1] = 0
  end
end
return res
