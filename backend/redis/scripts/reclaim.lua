-- reclaim.lua: returns expired leases to pending (or fails them on
-- their last attempt) and promotes due delayed tasks.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua): leases that expired before
--            now are reclaimed
--   ARGV[2]  events channel, ARGV[3] wake channel
--   ARGV[4…] queue prefix and queue name, pairs
--
-- Returns how many leases it reclaimed (at most 1000 per queue per call).
local now = clockNow(ARGV[1])
evInit(ARGV[2])
local n = 0
for qi = 4, #ARGV, 2 do
  local pre, q = ARGV[qi], ARGV[qi + 1]
  promote(pre, q, now)
  local ids = redis.call('ZRANGEBYSCORE', pre .. 'lease', '-inf', '(' .. now, 'LIMIT', 0, 1000)
  for _, id in ipairs(ids) do
    local key = pre .. 't:' .. id
    local f = redis.call('HMGET', key, 'a', 'ma', 'w', 'st', 'h', 'pr', 'y')
    if f[7] then
      local msg = 'lease expired: worker ' .. (f[3] or '') .. ' stopped extending it'
      local h = attemptRow(f[5], f[1], f[3], f[4], now, 'lease_expired', msg)
      redis.call('HDEL', key, 'tk', 'w', 'le')
      if tonumber(f[1]) >= tonumber(f[2]) then
        redis.call('HSET', key, 's', 'f', 'ft', now, 'h', h, 'e', msg)
        toFinal(pre, 'failed', id, now)
        if EVON then ev('t', id, f[7], q, 'f', f[1], '', '', msg) end
      else
        redis.call('HSET', key, 's', 'p', 'h', h, 'e', msg)
        pushPending(pre, q, id, f[6])
        if EVON then ev('t', id, f[7], q, 'p', f[1], '', '', msg) end
      end
      hist(pre, 'f')
      n = n + 1
    end
  end
  if #ids > 0 then redis.call('ZREM', pre .. 'lease', unpack(ids)) end
end
flush(now, ARGV[3])
return n
