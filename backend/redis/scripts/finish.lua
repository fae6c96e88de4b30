-- finish.lua: ends or updates leased attempts: ack, fail, release and
-- progress, many at once (one per caller waiting at that moment).
--
--   KEYS[1]  routing key (meta key of the first op's queue)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel
--   ARGV[3]  wake channel
--   ARGV[4…] ops of 8 values: kind, queue prefix, queue, id, token, a1, a2, a3
--            kind "c" ack:      a1 result JSON ("" for none)
--            kind "f" fail:     a1 error, a2 retry delay µs (from now), a3 "1" when final
--            kind "r" release
--            kind "g" progress: a1 percent, a2 message, a3 at µs ("" for now)
--
-- Returns per op 1 when done, 0 when the token is not the task's current
-- lease (the caller reports ErrLeaseLost).
local now = clockNow(ARGV[1])
evInit(ARGV[2])
local res = {}
for i = 4, #ARGV, 8 do
  local kind, pre, q, id, tok = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = pre .. 't:' .. id
  if kind == 'c' then
    -- The hot path. The attempt's worker, start and token stay in the
    -- hash: a completed task's last attempt is read from them (record.go).
    local f = redis.call('HMGET', key, 's', 'tk', 'a', 'y', 'pgp')
    if f[1] ~= 'a' or f[2] ~= tok then
      res[#res + 1] = 0
    else
      res[#res + 1] = 1
      local r = ARGV[i + 5]
      if r ~= '' and f[5] then
        redis.call('HSET', key, 's', 'c', 'ft', now, 'r', r, 'pgp', '100')
      elseif r ~= '' then
        redis.call('HSET', key, 's', 'c', 'ft', now, 'r', r)
      elseif f[5] then
        redis.call('HSET', key, 's', 'c', 'ft', now, 'pgp', '100')
      else
        redis.call('HSET', key, 's', 'c', 'ft', now)
      end
      zrem(pre .. 'lease', id)
      toFinal(pre, 'completed', id, now)
      hist(pre, 'c')
      if EVON then ev('t', id, f[4], q, 'c', f[3], '', r) end
    end
  else
    local f = redis.call('HMGET', key, 's', 'tk', 'a', 'w', 'st', 'h', 'y', 'ma', 'dl', 'pr')
    if f[1] ~= 'a' or f[2] ~= tok then
      res[#res + 1] = 0
    elseif kind == 'g' then
      res[#res + 1] = 1
      local at = ARGV[i + 7]
      if at == '' then at = now end
      redis.call('HSET', key, 'pgp', ARGV[i + 5], 'pgm', ARGV[i + 6], 'pga', at)
      if EVON then ev('t', id, f[7], q, 'a', f[3], f[4], '', '', ARGV[i + 5], ARGV[i + 6], at) end
    else
      res[#res + 1] = 1
      zrem(pre .. 'lease', id)
      redis.call('HDEL', key, 'tk', 'w', 'le')
      if kind == 'f' then
        local err, retryAt = ARGV[i + 5], clockAdd(now, ARGV[i + 6])
        local h = attemptRow(f[6], f[3], f[4], f[5], now, 'failed', err)
        if ARGV[i + 7] ~= '1' and tonumber(f[3]) < tonumber(f[8]) and (not f[9] or tonumber(retryAt) < tonumber(f[9])) then
          redis.call('HSET', key, 's', 'r', 'ra', retryAt, 'h', h, 'e', err)
          zadd(pre .. 'retry', retryAt, id)
          WAKE[q] = true -- idle leases recompute when to wake
          if EVON then ev('t', id, f[7], q, 'r', f[3], '', '', err) end
        else
          redis.call('HSET', key, 's', 'f', 'ft', now, 'h', h, 'e', err)
          toFinal(pre, 'failed', id, now)
          if EVON then ev('t', id, f[7], q, 'f', f[3], '', '', err) end
        end
        hist(pre, 'f')
      else
        local h = attemptRow(f[6], f[3], f[4], f[5], now, 'released', '')
        redis.call('HSET', key, 's', 'p', 'a', tonumber(f[3]) - 1, 'h', h)
        redis.call('HDEL', key, 'pgp', 'pgm', 'pga')
        pushPending(pre, q, id, f[10])
        if EVON then ev('t', id, f[7], q, 'p', tostring(tonumber(f[3]) - 1)) end
      end
    end
  end
end
flush(now, ARGV[3])
return res
