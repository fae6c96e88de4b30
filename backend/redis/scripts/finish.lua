-- finish.lua: ends or updates leased attempts: ack, fail, release and
-- progress, many at once (one per caller waiting at that moment).
--
--   KEYS[1]  routing key (meta key of the first op's queue)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel
--   ARGV[3]  wake channel
--   ARGV[4]  the due index ("" on a cluster; see prelude.lua)
--   ARGV[5]  the key prefix ("tm"; see keys.queuePrefix)
--   ARGV[6…] ops: kind, queue, id, lease ("<token>:<secret>", as the
--            hash's "tk" holds it), then the kind's values:
--            kind "c" ack:      result JSON ("" for none)
--            kind "f" fail:     error, retry delay µs (from now), "1" when final
--            kind "r" release:  none
--            kind "g" progress: percent, message
--            (an ack, the hot path, sends five values: each argument
--            costs the call)
--
-- An op acts only when the task is processing under that lease. Returns
-- per op 1 when done, 0 when the lease is not the task's current one
-- (the caller reports ErrLeaseLost).
local now = clockNow(ARGV[1])
local nowN = tonumber(now)
evInit(ARGV[2])
dueInit(ARGV[4])
local res = {}
local base, prefixes = ARGV[5], {}
local width = {c = 5, f = 7, r = 4, g = 6}
local i, last = 6, #ARGV
while i <= last do
  local kind, q, id, lease = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local pre = prefixes[q]
  if not pre then pre = base .. ':{' .. q .. '}:'; prefixes[q] = pre end
  local key = pre .. 't:' .. id
  local a1, a2, a3 = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6] -- those of its kind
  i = i + width[kind]
  if kind == 'c' then
    -- The hot path. The attempt's worker, start and token stay in the
    -- hash: a completed task's last attempt is read from them (record.go).
    local f = redis.call('HMGET', key, 's', 'tk', 'pgp', 'll')
    if f[1] ~= 'a' or f[2] ~= lease then
      res[#res + 1] = 0
    else
      res[#res + 1] = 1
      local r = a1
      if r ~= '' and f[3] then
        redis.call('HSET', key, 's', 'c', 'ft', now, 'r', r, 'pgp', '100')
      elseif r ~= '' then
        redis.call('HSET', key, 's', 'c', 'ft', now, 'r', r)
      elseif f[3] then
        redis.call('HSET', key, 's', 'c', 'ft', now, 'pgp', '100')
      else
        redis.call('HSET', key, 's', 'c', 'ft', now)
      end
      if f[4] then redis.call('HDEL', key, 'll') end
      zrem(pre .. 'lease', id)
      toFinal(pre, 'completed', id, now)
      hist(pre, 'c')
      evTask(pre, q, id)
    end
  else
    local f = redis.call('HMGET', key, 's', 'tk', 'a', 'w', 'st', 'h', 'y', 'ma', 'dl', 'pr')
    if f[1] ~= 'a' or f[2] ~= lease then
      res[#res + 1] = 0
    elseif kind == 'g' then
      res[#res + 1] = 1
      redis.call('HSET', key, 'pgp', a1, 'pgm', a2, 'pga', now)
      evTask(pre, q, id)
    else
      res[#res + 1] = 1
      zrem(pre .. 'lease', id)
      redis.call('HDEL', key, 'tk', 'w', 'le')
      if kind == 'f' then
        local err = a1
        local retryAt = clockAdd(now, math.max(0, tonumber(a2) or 0))
        local h = attemptRow(f[6], f[3], f[4], f[5], now, 'failed', err)
        redis.call('HDEL', key, 'll')
        if a3 ~= '1' and tonumber(f[3]) < tonumber(f[8]) and (not f[9] or tonumber(retryAt) < tonumber(f[9])) then
          redis.call('HSET', key, 's', 'r', 'ra', retryAt, 'h', h, 'e', err)
          zadd(pre .. 'retry', retryAt, id)
          due(q, retryAt)
          wake(q) -- idle leases recompute when to wake
        else
          redis.call('HSET', key, 's', 'f', 'ft', now, 'h', h, 'e', err)
          toFinal(pre, 'failed', id, now)
        end
        hist(pre, 'f')
      else
        local h = attemptRow(f[6], f[3], f[4], f[5], now, 'released', '')
        redis.call('HSET', key, 's', 'p', 'a', tonumber(f[3]) - 1, 'h', h)
        redis.call('HDEL', key, 'pgp', 'pgm', 'pga')
        toFront(pre, q, id, f[10], f[7])
      end
      evTask(pre, q, id)
    end
  end
end
flush(now, ARGV[3])
return res
