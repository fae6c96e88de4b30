-- prelude.lua holds the helpers every task script uses. The state codes
-- are those of record.go. Writes that many tasks of one call share — a
-- pending line, the lease and final-state sets, the finish logs — are
-- gathered in tables and sent as one variadic command per key
-- (flushWrites): a redis.call from Lua costs far more than the work most
-- commands do.
--
-- The line. A queue's pending tasks wait in one list per (type,
-- priority), "p:<type>:<prio>"; "pp:<type>" is the sorted set of the
-- priorities that have a list (score −priority) and "ptypes" the set of
-- types that have pending tasks. A Lease that takes only some types looks
-- only at theirs, and the others keep their place. Joining the back is
-- RPUSH, the front LPUSH: as cheap as one list per priority was. So that
-- a Lease of several types takes the queue's line in order, every
-- pending task also carries its place, "q" in its hash: the back counter
-- ("sb" in meta) grows for tasks joining the back (enqueue, promotion,
-- manual retry), the front counter ("sf") for tasks going to the front
-- (release, reclaim), used negated. Across types the heads are compared
-- by (priority, place).
--
-- A task that becomes final goes through toFinal, which files it twice:
-- in its state's id-ordered set (read by List and the counts) and at the
-- tail of that state's finish log, a list of (finished µs, id) pairs in
-- the order the tasks finished (read by Purge; see purge.lua).
--
-- The tables that gather writes are nil until a script writes to one:
-- most calls touch few of them, and a script call pays for every table
-- it makes and every pairs() it runs (calls into C), not only for the
-- commands it sends.
local EV = nil     -- events, sent by flush
local EVON = false
local EVCHAN = ''

local WAKE = nil   -- queue name -> true: publish on the wake channel
local HIST = nil   -- queue prefix .. '\0' .. kind -> count this minute
local PUSH = nil   -- pending list key -> {pre, q, ty, pr, back = {ids}, front = {ids}}
local ZADDS = nil  -- zset key -> {score, member, ...}
local ZREMS = nil  -- zset key -> {member, ...}
local LOGS = nil   -- finish log key -> {finished µs, id, ...}
local LEFT = nil   -- pending list key -> {pre, ty, pr}: lists tasks left
local COUNT = nil  -- meta field ('sb', 'sf', 'tok') -> {queue prefix -> value}, written back by flush
local USED = nil   -- queue prefix -> true: the queue was used (see use)
local NEWQ = nil   -- queue names stored into, for the queue registry
local DUE = nil    -- queue name -> earliest µs (a number) upkeep has work in it
local DUEKEY = ''  -- the due index ("" on a cluster: upkeep walks every queue)
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
  if not EV then EV = {} end
  EV[#EV + 1] = e
end
-- evTask sends a task's event as the task now is in its hash: ["t", id,
-- type, queue, state, attempt, worker, result, error, progress %,
-- progress message, progress at]. state, when given, replaces the
-- stored one ("d" for a deleted task, read before it went).
local function evTask(pre, q, id, state)
  if not EVON then return end
  local f = redis.call('HMGET', pre .. 't:' .. id, 'y', 's', 'a', 'w', 'r', 'e', 'pgp', 'pgm', 'pga')
  local s = state or f[2]
  local w = ''
  if s == 'a' then w = f[4] end
  local r = ''
  if s == 'c' or s == 'd' then r = f[5] end
  ev('t', id, f[1], q, s, f[3] or '0', w, r, f[6], f[7] or '', f[8], f[9])
end
-- The due index, a sorted set of queue names by the earliest µs at which
-- Reclaim or Promote has work in the queue (a lease's expiry, a delayed
-- task's run-at), lets upkeep visit only the queues that have work due
-- instead of every known queue. A script that files a lease or a delayed
-- task calls due; flush lowers the queue's score to it (ZADD LT). Upkeep
-- sets the score again after each visit (redue). A score may be early
-- (the lease was extended, the task canceled): the visit then finds
-- nothing and moves it. It is never late, and a queue with work is never
-- missing from it.
local function dueInit(key)
  DUEKEY = key
end
local function due(q, t)
  if not DUE then DUE = {} end
  local n = tonumber(t)
  local d = DUE[q]
  if not d or n < d then DUE[q] = n end
end
-- redue sets a queue's score in the due index to its earliest lease
-- expiry or run-at, or takes it out when it has none. The caller has
-- flushed its writes.
local function redue(pre, q)
  local best = nil
  for _, z in ipairs({'lease', 'sched', 'retry'}) do
    local r = redis.call('ZRANGE', pre .. z, 0, 0, 'WITHSCORES')
    if r[1] and r[1] ~= LEASE_PIN and (not best or tonumber(r[2]) < tonumber(best)) then best = r[2] end
  end
  if best then
    redis.call('ZADD', DUEKEY, best, q)
  else
    redis.call('ZREM', DUEKEY, q)
  end
end
-- upkeepQueues returns the queues an upkeep script visits, as queue
-- prefix and name pairs: those given from ARGV[first] on or, when none
-- are given, those of the due index whose score is at most now (at most
-- limit), their prefixes built from base as keys.queuePrefix does.
local function upkeepQueues(first, base, limit, now)
  if #ARGV >= first or DUEKEY == '' then return ARGV, first end
  local qs = redis.call('ZRANGEBYSCORE', DUEKEY, '-inf', now, 'LIMIT', 0, limit)
  local list = {}
  for _, q in ipairs(qs) do
    list[#list + 1] = base .. ':{' .. q .. '}:'
    list[#list + 1] = q
  end
  return list, 1
end
-- wake asks flush to wake the idle leases of queue q.
local function wake(q)
  if not WAKE then WAKE = {} end
  WAKE[q] = true
end
local function zadd(key, score, member)
  if not ZADDS then ZADDS = {} end
  local z = ZADDS[key]
  if not z then z = {}; ZADDS[key] = z end
  z[#z + 1] = score
  z[#z + 1] = member
end
-- leaseAdd files a leased task of queue q in its lease set, with the
-- set's pin (LEASE_PIN, see scripts.go) and its place in the due index
-- the first time in a call (the leases of one call expire together).
local function leaseAdd(pre, q, expires, id)
  local key = pre .. 'lease'
  if not (ZADDS and ZADDS[key]) then
    zadd(key, '+inf', LEASE_PIN)
    due(q, expires)
  end
  zadd(key, expires, id)
end
local function zrem(key, member)
  if not ZREMS then ZREMS = {} end
  local z = ZREMS[key]
  if not z then z = {}; ZREMS[key] = z end
  z[#z + 1] = member
end
-- counter returns the next value of a queue's counter in its meta hash
-- (field 'sb', 'sf' or 'tok'), read once per call and written back by
-- flush; known, when given, is its stored value read by the caller.
local function counter(pre, field, known)
  if not COUNT then COUNT = {} end
  local c = COUNT[field]
  if not c then c = {}; COUNT[field] = c end
  local v = c[pre] or known
  if not v then
    v = tonumber(redis.call('HGET', pre .. 'meta', field) or '0')
  end
  v = v + 1
  c[pre] = v
  return v
end
local function lineKey(pre, ty, pr)
  return pre .. 'p:' .. ty .. ':' .. (pr or '0')
end
local function joinLine(pre, q, id, pr, ty, front)
  pr = pr or '0'
  local key = lineKey(pre, ty, pr)
  if not PUSH then PUSH = {} end
  local p = PUSH[key]
  if not p then
    p = {pre = pre, q = q, ty = ty, pr = pr, back = {}, front = {}}
    PUSH[key] = p
  end
  if front then p.front[#p.front + 1] = id else p.back[#p.back + 1] = id end
end
-- backSeq returns the next place at the back of a queue's line; a
-- caller that writes the task's hash anyway stores it as "q" itself.
local function backSeq(pre)
  return counter(pre, 'sb')
end
-- toBack and toFront make a task pending at the back or the front of its
-- priority (the caller sets its state).
local function toBack(pre, q, id, pr, ty, seq)
  if not seq then
    redis.call('HSET', pre .. 't:' .. id, 'q', backSeq(pre))
  end
  joinLine(pre, q, id, pr, ty, false)
end
local function toFront(pre, q, id, pr, ty)
  redis.call('HSET', pre .. 't:' .. id, 'q', -counter(pre, 'sf'))
  joinLine(pre, q, id, pr, ty, true)
end
-- leave takes a task out of the structure of its state s.
local function leave(pre, s, id, ty, pr)
  if s == 'p' then
    local key = lineKey(pre, ty, pr)
    redis.call('LREM', key, 1, id)
    if not LEFT then LEFT = {} end
    LEFT[key] = {pre = pre, ty = ty, pr = pr or '0'}
  elseif s == 's' then
    zrem(pre .. 'sched', id)
  elseif s == 'r' then
    zrem(pre .. 'retry', id)
  elseif s == 'a' then
    zrem(pre .. 'lease', id)
  end
end
-- lineGone tidies after a pending list emptied: its priority, and the
-- type when it has no list left.
local function lineGone(pre, ty, pr)
  redis.call('ZREM', pre .. 'pp:' .. ty, pr)
  if redis.call('EXISTS', pre .. 'pp:' .. ty) == 0 then redis.call('SREM', pre .. 'ptypes', ty) end
end
-- use records that a queue was used now (ForgetQueues reads it).
local function use(pre)
  if not USED then USED = {} end
  USED[pre] = true
end
-- toFinal files a task that has just become final, at now, which must be
-- the 'ft' the caller writes in its hash: Purge tells a live log entry
-- from a stale one (the task was retried or deleted since) by comparing
-- the two.
local function toFinal(pre, set, id, now)
  zadd(pre .. set, 0, id)
  local key = pre .. 'fin:' .. set
  if not LOGS then LOGS = {} end
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
-- appendLog appends a script's (finished µs, id) pairs, all finished at
-- now, to a finish log in (finished, id) order: Purge takes the oldest
-- first, by id among those that finished at once. Entries of an earlier
-- script that finished at the same now with a larger id are taken off
-- the tail and merged; otherwise this costs one read of the tail.
local function appendLog(key, l, now)
  local ids = {}
  for i = 2, #l, 2 do ids[#ids + 1] = l[i] end
  table.sort(ids)
  local tail = redis.call('LRANGE', key, -2, -1)
  while #tail == 2 and tail[1] == now and tail[2] > ids[1] do
    ids[#ids + 1] = tail[2]
    redis.call('RPOP', key, 2)
    tail = redis.call('LRANGE', key, -2, -1)
  end
  table.sort(ids)
  local out = {}
  for _, id in ipairs(ids) do out[#out + 1] = now; out[#out + 1] = id end
  -- Chunks of 4000 arguments keep the pairs whole.
  variadic('RPUSH', key, out)
end
local function flushWrites(now)
  if PUSH then
    for key, p in pairs(PUSH) do
      local n = 0
      if #p.front > 0 then n = variadic('LPUSH', key, p.front) end
      if #p.back > 0 then n = variadic('RPUSH', key, p.back) end
      if n == #p.front + #p.back then
        -- The list was empty: record its priority and type, wake workers.
        redis.call('ZADD', p.pre .. 'pp:' .. p.ty, -tonumber(p.pr), p.pr)
        redis.call('SADD', p.pre .. 'ptypes', p.ty)
        wake(p.q)
      end
    end
    PUSH = nil
  end
  if ZREMS then
    for key, z in pairs(ZREMS) do variadic('ZREM', key, z) end
    ZREMS = nil
  end
  if ZADDS then
    for key, z in pairs(ZADDS) do variadic('ZADD', key, z) end
    ZADDS = nil
  end
  if LEFT then
    for key, l in pairs(LEFT) do
      if redis.call('EXISTS', key) == 0 then lineGone(l.pre, l.ty, l.pr) end
    end
    LEFT = nil
  end
  -- The counters and the last use of a queue go to its meta hash in
  -- one HSET: a script call pays per redis.call, not per field.
  if COUNT or USED then
    local meta = {}
    local function set(pre, field, v)
      local m = meta[pre]
      if not m then m = {}; meta[pre] = m end
      m[#m + 1] = field
      m[#m + 1] = v
    end
    if COUNT then
      for field, c in pairs(COUNT) do
        for pre, v in pairs(c) do set(pre, field, string.format('%d', v)) end
      end
    end
    if USED then
      for pre in pairs(USED) do set(pre, 'used', now) end
    end
    for pre, m in pairs(meta) do redis.call('HSET', pre .. 'meta', unpack(m)) end
    COUNT, USED = nil, nil
  end
  if LOGS then
    for key, l in pairs(LOGS) do appendLog(key, l, now) end
    LOGS = nil
  end
end
local function attemptRow(h, n, w, st, ft, outcome, err)
  local row = '[' .. (tonumber(n) or 0) .. ',' .. cjson.encode(w or '') .. ',"' .. (st or '') .. '","' .. ft ..
    '","' .. outcome .. '",' .. cjson.encode(err or '') .. ']'
  if h and h ~= '' then return string.sub(h, 1, -2) .. ',' .. row .. ']' end
  return '[' .. row .. ']'
end
local function hist(pre, kind)
  local k = pre .. '\0' .. kind
  if not HIST then HIST = {} end
  HIST[k] = (HIST[k] or 0) + 1
end
-- flush sends the gathered writes, history counts and events, and wakes
-- the queues in WAKE on wakechan. Scripts that never set WAKE pass no
-- wakechan.
local function flush(now, wakechan)
  flushWrites(now)
  if HIST then
    local minute = string.format('%d', math.floor(tonumber(now) / 60000000) * 60)
    for k, n in pairs(HIST) do
      local z = string.find(k, '\0', 1, true)
      redis.call('HINCRBY', string.sub(k, 1, z - 1) .. 'hist', minute .. ':' .. string.sub(k, z + 1), n)
    end
    HIST = nil
  end
  if EV then
    redis.call('PUBLISH', EVCHAN, cjson.encode({now, EV}))
    EV = nil
  end
  if WAKE then
    local qs = {}
    for q in pairs(WAKE) do qs[#qs + 1] = q end
    if wakechan then redis.call('PUBLISH', wakechan, table.concat(qs, ',')) end
    WAKE = nil
  end
  if DUE then
    if DUEKEY ~= '' then
      local a = {}
      for q, t in pairs(DUE) do
        a[#a + 1] = string.format('%d', t)
        a[#a + 1] = q
      end
      redis.call('ZADD', DUEKEY, 'LT', unpack(a))
    end
    DUE = nil
  end
end
-- fenced reports whether an upkeep call under term may act: term "0" is
-- unfenced; any other must be the current leadership's, unexpired. lead
-- is the leadership hash ("" on a cluster, where the Go side checked).
local function fenced(lead, term, now)
  if term == '0' or lead == '' then return true end
  local l = redis.call('HMGET', lead, 'h', 't', 'u')
  return l[1] and l[1] ~= '' and l[2] == term and tonumber(now) < tonumber(l[3] or '0')
end
-- promote moves every due scheduled and retrying task of a queue to the
-- back of its line, in (run-at, id) order, and returns how many.
local function promote(pre, q, now)
  local due = {}
  for _, z in ipairs({'sched', 'retry'}) do
    local r = redis.call('ZRANGEBYSCORE', pre .. z, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 10000)
    for i = 1, #r, 2 do
      due[#due + 1] = {id = r[i], at = tonumber(r[i + 1]), z = z}
    end
  end
  if #due == 0 then return 0 end
  table.sort(due, function(a, b)
    if a.at ~= b.at then return a.at < b.at end
    return a.id < b.id
  end)
  for _, d in ipairs(due) do
    local key = pre .. 't:' .. d.id
    local f = redis.call('HMGET', key, 'pr', 'y')
    zrem(pre .. d.z, d.id)
    if f[2] then
      redis.call('HSET', key, 's', 'p')
      toBack(pre, q, d.id, f[1], f[2])
      evTask(pre, q, d.id)
    end
  end
  return #due
end
