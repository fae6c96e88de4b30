-- extend.lua: renews leases.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  lease duration µs: the leases expire that long after now
--   ARGV[3]  worker id
--   ARGV[4…] queue prefix, id, token, secret: quadruples
--
-- A lease is held when its task is processing under that token and
-- secret, by that worker. Returns per lease 1 when held (and extended),
-- 2 when the task is canceled, 3 when there is no such task in that
-- queue, 0 when the lease is gone otherwise.
local expires = clockAdd(clockNow(ARGV[1]), ARGV[2])
local res = {}
for i = 4, #ARGV, 4 do
  local pre, id = ARGV[i], ARGV[i + 1]
  local key = pre .. 't:' .. id
  local f = redis.call('HMGET', key, 'tk', 's', 'ls', 'w')
  if f[2] == 'a' and f[1] == ARGV[i + 2] and f[3] == ARGV[i + 3] and f[4] == ARGV[3] then
    redis.call('HSET', key, 'le', expires)
    redis.call('ZADD', pre .. 'lease', expires, id, '+inf', LEASE_PIN)
    res[#res + 1] = 1
  elseif f[2] == 'x' then
    res[#res + 1] = 2
  elseif not f[2] then
    res[#res + 1] = 3
  else
    res[#res + 1] = 0
  end
end
return res
