-- lease.lua: promotes the due delayed tasks of the queues, then leases
-- pending ones: highest priority first and in line order (see
-- prelude.lua), only of the types asked for when some are; a task whose
-- deadline passed is failed with DEADLINE_MSG (deadlineMsg in Go)
-- instead, and does not count. With one type pending (or asked for) it
-- pops many ids per call; with several it compares the heads.
--
--   KEYS[1]  routing key (meta key of the first queue)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  lease duration µs
--   ARGV[3]  worker id
--   ARGV[4]  most tasks to lease
--   ARGV[5]  events channel
--   ARGV[6]  wake channel
--   ARGV[7]  the due index ("" on a cluster; see prelude.lua)
--   ARGV[8]  number of types n (0: every type), then the n types
--   then     number of secrets m (at least ARGV[4]), then m lease secrets
--   then     queue prefix and queue name, pairs, in the order to take from
--
-- Returns {leased, next, now}: leased holds {queue, id, token, fields}
-- per task, fields being the hash as it was before the lease (the n-th
-- task took the n-th secret), packed into one string by cmsgpack, ""
-- when nothing was leased (packed.go tells why); next is the earliest
-- run-at µs of a delayed task in these queues ("" if none) when nothing
-- was leased; now is the time of the lease: the attempt's start (its
-- lease expires a lease duration later).
local now = clockNow(ARGV[1])
local nowN = tonumber(now)
local expires = clockAdd(now, ARGV[2])
local worker = ARGV[3]
local max = tonumber(ARGV[4])
evInit(ARGV[5])
dueInit(ARGV[7])
local a = 8
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
local tokens = {} -- queue prefix -> lease token counter as stored
-- takeTask leases one task just taken out of its line, or fails it when
-- its deadline passed; true when leased.
local function takeTask(pre, q, id)
  local key = pre .. 't:' .. id
  local kv = redis.call('HGETALL', key)
  if #kv == 0 then return false end
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
    return false
  end
  -- The token counter was read with the paused flag (below).
  local tok = string.format('%d', counter(pre, 'tok', tokens[pre]))
  local secret = ARGV[secrets + #leased]
  att = att + 1
  redis.call('HSET', key, 's', 'a', 'a', att, 'w', worker, 'tk', tok .. ':' .. secret, 'le', expires, 'st', now)
  if pg then redis.call('HDEL', key, 'pgp', 'pgm', 'pga') end
  leaseAdd(pre, q, expires, id)
  leased[#leased + 1] = {q, id, tok, kv}
  evTask(pre, q, id)
  return true
end
for qi = qstart, #ARGV, 2 do
  local pre, q = ARGV[qi], ARGV[qi + 1]
  promote(pre, q, now)
  flushWrites(now) -- promoted tasks must be in their lines before leasing
  local open = false
  if #leased < max then
    local m = redis.call('HMGET', pre .. 'meta', 'paused', 'tok')
    tokens[pre] = tonumber(m[2] or '0')
    open = m[1] ~= '1'
  end
  if open then
    local types = redis.call('SMEMBERS', pre .. 'ptypes')
    if want and #types > 0 then
      local has = {}
      for _, ty in ipairs(types) do has[ty] = true end
      types = {}
      for _, ty in ipairs(want) do
        if has[ty] then types[#types + 1] = ty end
      end
    end
    local took = false
    if #types == 1 then
      -- One type: its lists in priority order, many ids per LPOP.
      local ty = types[1]
      for _, pr in ipairs(redis.call('ZRANGE', pre .. 'pp:' .. ty, 0, -1)) do
        while #leased < max do
          local need = max - #leased
          local key = pre .. 'p:' .. ty .. ':' .. pr
          local ids = redis.call('LPOP', key, need)
          local empty = not ids or #ids < need or redis.call('EXISTS', key) == 0
          if empty then lineGone(pre, ty, pr) end
          if not ids then break end
          for _, id in ipairs(ids) do
            if takeTask(pre, q, id) then took = true end
          end
          if empty then break end
        end
        if #leased >= max then break end
      end
    elseif #types > 1 then
      -- Several types: the best head of each, by (priority, place),
      -- one task at a time.
      local heads = {}
      local function head(ty)
        local pr = redis.call('ZRANGE', pre .. 'pp:' .. ty, 0, 0)[1]
        if not pr then return nil end
        local key = pre .. 'p:' .. ty .. ':' .. pr
        local id = redis.call('LINDEX', key, 0)
        if not id then
          lineGone(pre, ty, pr)
          return head(ty)
        end
        return {ty = ty, pr = tonumber(pr), key = key, prs = pr, id = id,
          seq = tonumber(redis.call('HGET', pre .. 't:' .. id, 'q') or '0')}
      end
      for _, ty in ipairs(types) do heads[ty] = head(ty) end
      while #leased < max do
        local best = nil
        for _, h in pairs(heads) do
          if not best or h.pr > best.pr or (h.pr == best.pr and h.seq < best.seq) then best = h end
        end
        if not best then break end
        redis.call('LPOP', best.key)
        if redis.call('EXISTS', best.key) == 0 then lineGone(pre, best.ty, best.prs) end
        if takeTask(pre, q, best.id) then took = true end
        heads[best.ty] = head(best.ty)
      end
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
local packed = ''
if #leased > 0 then packed = cmsgpack.pack(leased) end
return {packed, nextDue, now}
