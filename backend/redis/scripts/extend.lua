-- extend.lua: renews leases.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  lease duration µs: the leases expire that long after now
--   ARGV[3]  worker id
--   ARGV[4]  the due index ("" on a cluster; see prelude.lua)
--   ARGV[5…] queue prefix, queue, id, lease ("<token>:<secret>", as the
--            hash's "tk" holds it): quadruples
--
-- A lease is held when its task is processing under that token and
-- secret, by that worker. Returns per lease 1 when held (and extended),
-- 2 when the task is canceled, 3 when there is no such task in that
-- queue, 0 when the lease is gone otherwise. A shorter duration than
-- before moves the expiry earlier, so the due index is lowered too.
local expires = clockAdd(clockNow(ARGV[1]), ARGV[2])
local res = {}
local due = {} -- queue names whose leases were extended
for i = 5, #ARGV, 4 do
  local pre, q, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = pre .. 't:' .. id
  local f = redis.call('HMGET', key, 'tk', 's', 'w')
  if f[2] == 'a' and f[1] == ARGV[i + 3] and f[3] == ARGV[3] then
    redis.call('HSET', key, 'le', expires)
    redis.call('ZADD', pre .. 'lease', expires, id, '+inf', LEASE_PIN)
    due[#due + 1] = expires
    due[#due + 1] = q
    res[#res + 1] = 1
  elseif f[2] == 'x' then
    res[#res + 1] = 2
  elseif not f[2] then
    res[#res + 1] = 3
  else
    res[#res + 1] = 0
  end
end
if ARGV[4] ~= '' then
  -- Chunks of 4000 arguments keep the pairs whole.
  for a = 1, #due, 4000 do
    redis.call('ZADD', ARGV[4], 'LT', unpack(due, a, math.min(a + 3999, #due)))
  end
end
return res
