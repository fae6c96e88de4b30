-- prelude.lua holds the helpers every task script uses. The state codes
-- are those of record.go. Writes that many tasks of one call share — a
-- pending list, the lease and final-state sets, the finish logs — are
-- gathered in tables and sent as one variadic command per key
-- (flushWrites): a redis.call from Lua costs far more than the work most
-- commands do.
--
-- A task that becomes final goes through toFinal, which files it twice:
-- in its state's id-ordered set (read by List and the counts) and at the
-- tail of that state's finish log, a list of (finished µs, id) pairs in
-- the order the tasks finished (read by Purge; see purge.lua).
local EV = {}
local EVON = false
local EVCHAN = ''

local WAKE = {}
local HIST = {}
local PUSH = {}    -- list key -> {q, prios key, prio, ids...}
local ZADDS = {}   -- zset key -> {score, member, ...}
local ZREMS = {}   -- zset key -> {member, ...}
local LOGS = {}    -- finish log key -> {finished µs, id, ...}
-- evInit decides whether to build events: when the channel has
-- subscribers, or always when the channel comes as "+name" (on a
-- cluster NUMSUB sees only this node's subscribers).
local function evInit(chan)
  if string.sub(chan, 1, 1) == '+' then
    EVCHAN, EVON = string.sub(chan, 2), true
  else
    EVCHAN = chan
    EVON = redis.call('PUBSUB', 'NUMSUB', chan)[2] > 0
  end
end
local function ev(...)
  if not EVON then return end
  local n = select('#', ...)
  local e = {...}
  for k = 1, n do
    if not e[k] then e[k] = '' end
  end
  EV[#EV + 1] = e
end
local function pushPending(pre, q, id, pr)
  pr = pr or '0'
  local key = pre .. 'p:' .. pr
  local p = PUSH[key]
  if not p then
    p = {q = q, prios = pre .. 'prios', pr = pr, ids = {}}
    PUSH[key] = p
  end
  p.ids[#p.ids + 1] = id
end
local function zadd(key, score, member)
  local z = ZADDS[key]
  if not z then z = {}; ZADDS[key] = z end
  z[#z + 1] = score
  z[#z + 1] = member
end
local function zrem(key, member)
  local z = ZREMS[key]
  if not z then z = {}; ZREMS[key] = z end
  z[#z + 1] = member
end
-- toFinal files a task that has just become final, at now, which must be
-- the 'ft' the caller writes in its hash: Purge tells a live log entry
-- from a stale one (the task was retried or deleted since) by comparing
-- the two.
local function toFinal(pre, set, id, now)
  zadd(pre .. set, 0, id)
  local key = pre .. 'fin:' .. set
  local l = LOGS[key]
  if not l then l = {}; LOGS[key] = l end
  l[#l + 1] = now
  l[#l + 1] = id
end
-- variadic sends cmd on key with args in chunks Lua's unpack can take.
local function variadic(cmd, key, args)
  local last = nil
  for i = 1, #args, 4000 do
    last = redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args)))
  end
  return last
end
local function flushWrites()
  for key, p in pairs(PUSH) do
    if variadic('RPUSH', key, p.ids) == #p.ids then
      -- The list was empty: record its priority, wake idle workers.
      redis.call('ZADD', p.prios, -tonumber(p.pr), p.pr)
      WAKE[p.q] = true
    end
  end
  PUSH = {}
  for key, z in pairs(ZADDS) do variadic('ZADD', key, z) end
  ZADDS = {}
  for key, z in pairs(ZREMS) do variadic('ZREM', key, z) end
  ZREMS = {}
  -- Chunks of 4000 arguments keep the pairs whole.
  for key, l in pairs(LOGS) do variadic('RPUSH', key, l) end
  LOGS = {}
end
local function attemptRow(h, n, w, st, ft, outcome, err)
  local row = '[' .. (tonumber(n) or 0) .. ',' .. cjson.encode(w or '') .. ',"' .. (st or '') .. '","' .. ft ..
    '","' .. outcome .. '",' .. cjson.encode(err or '') .. ']'
  if h and h ~= '' then return string.sub(h, 1, -2) .. ',' .. row .. ']' end
  return '[' .. row .. ']'
end
local function hist(pre, kind)
  local k = pre .. '\0' .. kind
  HIST[k] = (HIST[k] or 0) + 1
end
-- flush sends the gathered writes, history counts and events, and wakes
-- the queues in WAKE on wakechan. Scripts that never set WAKE pass no
-- wakechan.
local function flush(now, wakechan)
  flushWrites()
  local minute = string.format('%d', math.floor(tonumber(now) / 60000000) * 60)
  for k, n in pairs(HIST) do
    local z = string.find(k, '\0', 1, true)
    redis.call('HINCRBY', string.sub(k, 1, z - 1) .. 'hist', minute .. ':' .. string.sub(k, z + 1), n)
  end
  if #EV > 0 then redis.call('PUBLISH', EVCHAN, cjson.encode({now, EV})) end
  local qs = {}
  for q in pairs(WAKE) do qs[#qs + 1] = q end
  if #qs > 0 then redis.call('PUBLISH', wakechan, table.concat(qs, ',')) end
end
local function promote(pre, q, now)
  for _, z in ipairs({'sched', 'retry'}) do
    local due = redis.call('ZRANGEBYSCORE', pre .. z, '-inf', now, 'LIMIT', 0, 1000)
    if #due > 0 then
      for _, id in ipairs(due) do
        local key = pre .. 't:' .. id
        local f = redis.call('HMGET', key, 'pr', 'y', 'a')
        if f[2] then
          redis.call('HSET', key, 's', 'p')
          pushPending(pre, q, id, f[1])
          if EVON then ev('t', id, f[2], q, 'p', f[3] or '0') end
        end
      end
      redis.call('ZREM', pre .. z, unpack(due))
    end
  end
end
