-- lease.lua: promotes the due delayed tasks of the queues, then leases
-- pending ones: highest priority first and in line order (see
-- prelude.lua), only of the types asked for when some are; a task whose
-- deadline passed is failed with DEADLINE_MSG (deadlineMsg in Go)
-- instead, and does not count.
--
--   KEYS[1]  routing key (meta key of the first queue)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  lease duration µs
--   ARGV[3]  worker id
--   ARGV[4]  most tasks to lease
--   ARGV[5]  events channel
--   ARGV[6]  wake channel
--   ARGV[7]  number of types n (0: every type), then the n types
--   then     number of secrets m (at least ARGV[4]), then m lease secrets
--   then     queue prefix and queue name, pairs, in the order to take from
--
-- Returns {leased, next, now}: leased holds {queue, id, token, secret,
-- fields} per task, fields being the hash as it was before the lease;
-- next is the earliest run-at µs of a delayed task in these queues (""
-- if none) when nothing was leased; now is the time of the lease: the
-- attempt's start (its lease expires a lease duration later).
local now = clockNow(ARGV[1])
local nowN = tonumber(now)
local expires = clockAdd(now, ARGV[2])
local worker = ARGV[3]
local max = tonumber(ARGV[4])
evInit(ARGV[5])
local a = 7
local ntypes = tonumber(ARGV[a]); a = a + 1
local want = nil
if ntypes > 0 then
  want = {}
  for x = a, a + ntypes - 1 do want[#want + 1] = ARGV[x] end
end
a = a + ntypes
local nsecrets = tonumber(ARGV[a]); a = a + 1
local secrets = a
a = a + nsecrets
local qstart = a
local leased = {}
for qi = qstart, #ARGV, 2 do
  local pre, q = ARGV[qi], ARGV[qi + 1]
  promote(pre, q, now)
  flushWrites(now) -- promoted tasks must be in their lines before leasing
  if #leased < max and redis.call('HGET', pre .. 'meta', 'paused') ~= '1' then
    local types = want
    if not types then
      types = redis.call('SMEMBERS', pre .. 'ptypes')
    end
    local took = false
    local more = true
    while more and #leased < max do
      -- Take the first `need` of each type's line and merge them by score.
      local need = max - #leased
      local heads = {}
      -- A type that had more than it showed may hide tasks after its
      -- last one shown: the merge is sure only up to the horizon.
      local horizon = nil
      more = false
      for _, ty in ipairs(types) do
        local r = redis.call('ZRANGE', pre .. 'pt:' .. ty, 0, need - 1, 'WITHSCORES')
        for x = 1, #r, 2 do heads[#heads + 1] = {id = r[x], sc = tonumber(r[x + 1]), ty = ty} end
        if #r == 2 * need then
          more = true
          local last = tonumber(r[#r])
          if not horizon or last < horizon then horizon = last end
        end
      end
      if #heads == 0 then break end
      if #types > 1 then table.sort(heads, function(u, v) return u.sc < v.sc end) end
      local gone = {} -- type -> ids taken out of its line
      local failed = false
      for _, h in ipairs(heads) do
        if #leased >= max or (horizon and h.sc > horizon) then break end
        local id = h.id
        local g = gone[h.ty]
        if not g then g = {}; gone[h.ty] = g end
        g[#g + 1] = id
        local key = pre .. 't:' .. id
        local kv = redis.call('HGETALL', key)
        if #kv == 0 then
          failed = true -- gone: room for another
        else
          local dl, att, pg = nil, 0, false
          for x = 1, #kv, 2 do
            local f = kv[x]
            if f == 'dl' then dl = kv[x + 1]
            elseif f == 'a' then att = tonumber(kv[x + 1])
            elseif f == 'pgp' then pg = true end
          end
          if dl and nowN >= tonumber(dl) then
            redis.call('HSET', key, 's', 'f', 'ft', now, 'e', DEADLINE_MSG)
            toFinal(pre, 'failed', id, now)
            hist(pre, 'f')
            evTask(pre, q, id)
            failed = true
          else
            local tok = string.format('%d', counter(TOKC, pre, 'tok'))
            local secret = ARGV[secrets + #leased]
            att = att + 1
            redis.call('HSET', key, 's', 'a', 'a', att, 'w', worker, 'tk', tok, 'ls', secret, 'le', expires, 'st', now)
            if pg then redis.call('HDEL', key, 'pgp', 'pgm', 'pga') end
            zadd(pre .. 'lease', expires, id)
            leased[#leased + 1] = {q, id, tok, secret, kv}
            took = true
            evTask(pre, q, id)
          end
        end
      end
      for ty, ids in pairs(gone) do
        variadic('ZREM', pre .. 'pt:' .. ty, ids)
        if redis.call('EXISTS', pre .. 'pt:' .. ty) == 0 then redis.call('SREM', pre .. 'ptypes', ty) end
      end
      -- Only tasks failed for their deadline can leave room for more.
      more = more and failed
    end
    if took then use(pre) end
  end
end
local nextDue = ''
if #leased == 0 then
  local best = nil
  for qi = qstart, #ARGV, 2 do
    for _, z in ipairs({'sched', 'retry'}) do
      local r = redis.call('ZRANGE', ARGV[qi] .. z, 0, 0, 'WITHSCORES')
      if r[2] and (not best or tonumber(r[2]) < tonumber(best)) then best = r[2] end
    end
  end
  nextDue = best or ''
end
flush(now, ARGV[6])
return {leased, nextDue, now}
