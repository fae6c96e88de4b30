-- lease.lua: promotes due delayed tasks and leases pending ones; a task
-- whose deadline passed is failed with DEADLINE_MSG (deadlineMsg in Go) instead.
--
--   KEYS[1]  routing key (meta key of the first queue)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  lease duration µs
--   ARGV[3]  worker id
--   ARGV[4]  most tasks to lease
--   ARGV[5]  events channel
--   ARGV[6]  wake channel
--   ARGV[7…] queue prefix and queue name, pairs, in the order to take from
--
-- Returns {leased, next, now} where leased holds {queue, id, token, fields}
-- per task, fields being the hash as it was before the lease, and next
-- the earliest run-at µs of a delayed task in these queues ("" if none)
-- when nothing was leased, and now the time of the lease: the attempt's
-- start (its lease expires a lease duration later).
local now = clockNow(ARGV[1])
local expires = clockAdd(now, ARGV[2])
local nowN = tonumber(now)
local max = tonumber(ARGV[4])
evInit(ARGV[5])
local leased = {}
for qi = 7, #ARGV, 2 do
  local pre, q = ARGV[qi], ARGV[qi + 1]
  promote(pre, q, now)
  flushWrites() -- promoted tasks must be in their lists before popping
  if #leased < max and redis.call('HGET', pre .. 'meta', 'paused') ~= '1' then
    for _, pr in ipairs(redis.call('ZRANGE', pre .. 'prios', 0, -1)) do
      if #leased >= max then break end
      local want = max - #leased
      local ids = redis.call('LPOP', pre .. 'p:' .. pr, want)
      if not ids or #ids < want then redis.call('ZREM', pre .. 'prios', pr) end
      if ids then
        local tok = redis.call('HINCRBY', pre .. 'meta', 'tok', #ids) - #ids
        for _, id in ipairs(ids) do
          tok = tok + 1
          local key = pre .. 't:' .. id
          local kv = redis.call('HGETALL', key)
          if #kv > 0 then
            local dl, a, y, pg = nil, 0, '', false
            for x = 1, #kv, 2 do
              local f = kv[x]
              if f == 'dl' then dl = kv[x + 1]
              elseif f == 'a' then a = tonumber(kv[x + 1])
              elseif f == 'y' then y = kv[x + 1]
              elseif f == 'pgp' then pg = true end
            end
            if dl and nowN >= tonumber(dl) then
              redis.call('HSET', key, 's', 'f', 'ft', now, 'e', DEADLINE_MSG)
              toFinal(pre, 'failed', id, now)
              hist(pre, 'f')
              if EVON then ev('t', id, y, q, 'f', tostring(a), '', '', DEADLINE_MSG) end
            else
              local t = string.format('%d', tok)
              a = a + 1
              redis.call('HSET', key, 's', 'a', 'a', a, 'w', ARGV[3], 'tk', t, 'le', expires, 'st', now)
              if pg then redis.call('HDEL', key, 'pgp', 'pgm', 'pga') end
              zadd(pre .. 'lease', expires, id)
              leased[#leased + 1] = {q, id, t, kv}
              if EVON then ev('t', id, y, q, 'a', tostring(a), ARGV[3]) end
            end
          end
        end
      end
    end
  end
end
local nextDue = ''
if #leased == 0 then
  local best = nil
  for qi = 7, #ARGV, 2 do
    for _, z in ipairs({'sched', 'retry'}) do
      local r = redis.call('ZRANGE', ARGV[qi] .. z, 0, 0, 'WITHSCORES')
      if r[2] and (not best or tonumber(r[2]) < tonumber(best)) then best = r[2] end
    end
  end
  nextDue = best or ''
end
flush(now, ARGV[6])
return {leased, nextDue, now}
