package redis

import (
	"strconv"

	goredis "github.com/redis/go-redis/v9"
)

// Every state transition is one Lua script, run atomically by Redis in
// one round trip. Conventions shared by all scripts:
//
//   - KEYS[1] is a key in the slot the script works in. Redis Cluster
//     routes the call by it. The other keys of a queue are built inside
//     the script from the queue's key prefix, "tm:{queue}:", passed in
//     ARGV (see keys.queuePrefix). Because every such key carries the
//     same "{queue}" hash tag they all live in KEYS[1]'s slot; the Go
//     side never puts queues of different slots in one call when it talks
//     to a cluster.
//   - Times are integer microseconds since the epoch, passed as decimal
//     strings. Scripts store and compare them but never format a computed
//     time as a Lua number (Lua prints doubles with 14 digits).
//   - Each script publishes what it changed as ONE message on the events
//     channel: cjson [now, [event, …]], an event being an array of
//     strings — ["t", id, type, queue, state code, attempt, worker,
//     result, error, progress %, progress message, progress at] for a
//     task, ["q", queue] for a queue, ["w", info JSON, flag] for a worker.
//   - Events are built only when the events channel has subscribers
//     (PUBSUB NUMSUB): a system nobody watches does not pay for them. On
//     a cluster NUMSUB counts one node's subscribers only, so there the
//     channel is passed as "+name", which means "always".
//   - When a queue's pending list goes from empty to non-empty, or a
//     delayed task is stored, the script publishes the queue name on the
//     wake channel, so that idle Lease calls in every process look again
//     (or recompute when the first delayed task is due) instead of polling.

// luaPrelude holds the helpers every task script uses. The state codes
// are those of record.go. Writes that many tasks of one call share — a
// pending list, the lease and final-state sets, the finish logs — are
// gathered in tables and sent as one variadic command per key
// (flushWrites): a redis.call from Lua costs far more than the work most
// commands do.
//
// A task that becomes final goes through toFinal, which files it twice:
// in its state's id-ordered set (read by List and the counts) and at the
// tail of that state's finish log, a list of (finished µs, id) pairs in
// the order the tasks finished (read by Purge; see purgeScript).
const luaPrelude = `
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
`

// enqueueScript stores new tasks.
//
//	KEYS[1]  routing key (meta key of the first queue in the call)
//	ARGV[1]  now µs
//	ARGV[2]  events channel
//	ARGV[3]  wake channel
//	ARGV[4]  number of groups; each group is one Enqueue call and is
//	         stored all or nothing
//	then per group: the task count n, and per task: queue prefix, queue,
//	id, state code ("p" or "s"), priority, run-at µs, unique key ("" for
//	none), unique-until µs, field count k, then k field/value pairs for
//	the hash, starting with the type.
//
// Returns per group {-1, id} when an id already exists (nothing of the
// group is stored), else {1, holder…} with, per task, "" when stored or
// the id of the task holding its unique key.
var enqueueScript = goredis.NewScript(luaPrelude + `
local now = ARGV[1]
evInit(ARGV[2])
local i = 5
local out = {}
for g = 1, tonumber(ARGV[4]) do
  local n = tonumber(ARGV[i]); i = i + 1
  local starts, res, seen, tkeys = {}, {1}, {}, {}
  local dup = nil
  for j = 1, n do
    starts[j] = i
    local pre, id, uk = ARGV[i], ARGV[i + 2], ARGV[i + 6]
    local idk = pre .. 't:' .. id
    tkeys[j] = idk
    if not dup and seen[idk] then dup = id end
    seen[idk] = true
    local holder = ''
    if uk ~= '' then
      local ukk = pre .. 'u:' .. uk
      holder = seen[ukk] or redis.call('GET', ukk) or ''
      if holder == '' then seen[ukk] = id end
    end
    res[j + 1] = holder
    i = i + 9 + 2 * tonumber(ARGV[i + 8])
  end
  -- One EXISTS for the whole group; only when it finds something, one
  -- per key to name the duplicate.
  if not dup then
    local found = 0
    for x = 1, #tkeys, 4000 do
      found = found + redis.call('EXISTS', unpack(tkeys, x, math.min(x + 3999, #tkeys)))
    end
    if found > 0 then
      for j = 1, n do
        if redis.call('EXISTS', tkeys[j]) == 1 then dup = ARGV[starts[j] + 2]; break end
      end
    end
  end
  if dup then
    out[g] = {-1, dup}
  else
    for j = 1, n do
      if res[j + 1] == '' then
        local x = starts[j]
        local pre, q, id, st = ARGV[x], ARGV[x + 1], ARGV[x + 2], ARGV[x + 3]
        redis.call('HSET', tkeys[j], 's', st, unpack(ARGV, x + 9, x + 8 + 2 * tonumber(ARGV[x + 8])))
        if st == 'p' then
          pushPending(pre, q, id, ARGV[x + 4])
        else
          zadd(pre .. 'sched', ARGV[x + 5], id)
          WAKE[q] = true -- idle leases recompute when to wake
        end
        if ARGV[x + 6] ~= '' then
          redis.call('SET', pre .. 'u:' .. ARGV[x + 6], id, 'PXAT', string.format('%d', math.floor(tonumber(ARGV[x + 7]) / 1000)))
        end
        if EVON then ev('t', id, ARGV[x + 10], q, st, '0') end
      end
    end
    out[g] = res
  end
end
flush(now, ARGV[3])
return out
`)

// deadlineMsg is the last error of a task whose deadline passed while it
// waited (the embedded backend uses the same words).
const deadlineMsg = "deadline exceeded before the task could start"

// leaseScript promotes due delayed tasks and leases pending ones; a task
// whose deadline passed is failed with deadlineMsg instead.
//
//	KEYS[1]  routing key (meta key of the first queue)
//	ARGV[1]  now µs
//	ARGV[2]  lease expiry µs
//	ARGV[3]  worker id
//	ARGV[4]  most tasks to lease
//	ARGV[5]  events channel
//	ARGV[6]  wake channel
//	ARGV[7…] queue prefix and queue name, pairs, in the order to take from
//
// Returns {leased, next} where leased holds {queue, id, token, fields}
// per task, fields being the hash as it was before the lease, and next
// the earliest run-at µs of a delayed task in these queues ("" if none)
// when nothing was leased.
var leaseScript = goredis.NewScript(luaPrelude + `
local DEADLINE_MSG = ` + strconv.Quote(deadlineMsg) + `
local now = ARGV[1]
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
              redis.call('HSET', key, 's', 'a', 'a', a, 'w', ARGV[3], 'tk', t, 'le', ARGV[2], 'st', now)
              if pg then redis.call('HDEL', key, 'pgp', 'pgm', 'pga') end
              zadd(pre .. 'lease', ARGV[2], id)
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
return {leased, nextDue}
`)

// finishScript ends or updates leased attempts: ack, fail, release and
// progress, many at once (one per caller waiting at that moment).
//
//	KEYS[1]  routing key (meta key of the first op's queue)
//	ARGV[1]  now µs
//	ARGV[2]  events channel
//	ARGV[3]  wake channel
//	ARGV[4…] ops of 8 values: kind, queue prefix, queue, id, token, a1, a2, a3
//	         kind "c" ack:      a1 result JSON ("" for none)
//	         kind "f" fail:     a1 error, a2 retry-at µs, a3 "1" when final
//	         kind "r" release
//	         kind "g" progress: a1 percent, a2 message, a3 at µs
//
// Returns per op 1 when done, 0 when the token is not the task's current
// lease (the caller reports ErrLeaseLost).
var finishScript = goredis.NewScript(luaPrelude + `
local now = ARGV[1]
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
      redis.call('HSET', key, 'pgp', ARGV[i + 5], 'pgm', ARGV[i + 6], 'pga', ARGV[i + 7])
      if EVON then ev('t', id, f[7], q, 'a', f[3], f[4], '', '', ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]) end
    else
      res[#res + 1] = 1
      zrem(pre .. 'lease', id)
      redis.call('HDEL', key, 'tk', 'w', 'le')
      if kind == 'f' then
        local err, retryAt = ARGV[i + 5], ARGV[i + 6]
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
`)

// extendScript renews leases.
//
//	KEYS[1]  routing key
//	ARGV[1]  new lease expiry µs
//	ARGV[2…] queue prefix, id, token: triples
//
// Returns per lease 1 when still held (and extended), 2 when the task was
// canceled, 0 when the lease is gone otherwise.
var extendScript = goredis.NewScript(`
local res = {}
for i = 2, #ARGV, 3 do
  local pre, id = ARGV[i], ARGV[i + 1]
  local key = pre .. 't:' .. id
  local f = redis.call('HMGET', key, 'tk', 's')
  if f[1] == ARGV[i + 2] and f[2] == 'a' then
    redis.call('HSET', key, 'le', ARGV[1])
    redis.call('ZADD', pre .. 'lease', ARGV[1], id)
    res[#res + 1] = 1
  elseif f[2] == 'x' then
    res[#res + 1] = 2
  else
    res[#res + 1] = 0
  end
end
return res
`)

// cancelScript cancels a task that is not final. It wakes nobody.
//
//	KEYS[1]  the task key
//	ARGV[1]  now µs
//	ARGV[2]  events channel
//	ARGV[3]  cancel channel
//	ARGV[4]  queue prefix
//	ARGV[5]  queue
//	ARGV[6]  id
//
// Returns {1, fields} when canceled, {0} when there is no such task, {2}
// when it is already final.
var cancelScript = goredis.NewScript(luaPrelude + `
local now, pre, q, id, key = ARGV[1], ARGV[4], ARGV[5], ARGV[6], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'pr', 'a', 'w', 'st', 'h', 'y', 'uk')
local s = f[1]
if not s then return {0} end
if s == 'c' or s == 'f' or s == 'x' then return {2} end
if s == 'p' then
  redis.call('LREM', pre .. 'p:' .. (f[2] or '0'), 1, id)
elseif s == 's' then
  redis.call('ZREM', pre .. 'sched', id)
elseif s == 'r' then
  redis.call('ZREM', pre .. 'retry', id)
elseif s == 'a' then
  redis.call('ZREM', pre .. 'lease', id)
  redis.call('HSET', key, 'h', attemptRow(f[6], f[3], f[4], f[5], now, 'canceled', 'canceled'))
  redis.call('HDEL', key, 'tk', 'w', 'le')
end
redis.call('HSET', key, 's', 'x', 'ft', now)
toFinal(pre, 'canceled', id, now)
if f[8] then
  local uk = pre .. 'u:' .. f[8]
  if redis.call('GET', uk) == id then redis.call('DEL', uk) end
end
ev('t', id, f[7], q, 'x', f[3] or '0')
redis.call('PUBLISH', ARGV[3], id)
flush(now)
return {1, redis.call('HGETALL', key)}
`)

// retryScript sends a failed or canceled task back to pending with a
// fresh set of attempts.
//
//	KEYS[1]  the task key
//	ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] wake channel,
//	ARGV[4]  queue prefix, ARGV[5] queue, ARGV[6] id
//
// Returns {1, fields}, {0} when there is no such task, {2} when it is
// neither failed nor canceled.
var retryScript = goredis.NewScript(luaPrelude + `
local now, pre, q, id, key = ARGV[1], ARGV[4], ARGV[5], ARGV[6], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'pr', 'y', 'dl')
local s = f[1]
if not s then return {0} end
if s ~= 'f' and s ~= 'x' then return {2} end
redis.call('ZREM', pre .. (s == 'f' and 'failed' or 'canceled'), id)
redis.call('HSET', key, 's', 'p', 'a', 0)
redis.call('HDEL', key, 'ft', 'ra', 'r', 'pgp', 'pgm', 'pga')
if f[4] and tonumber(now) >= tonumber(f[4]) then redis.call('HDEL', key, 'dl') end
pushPending(pre, q, id, f[2])
ev('t', id, f[3], q, 'p', '0')
flush(now, ARGV[3])
return {1, redis.call('HGETALL', key)}
`)

// deleteScript removes a final task. It wakes nobody.
//
//	KEYS[1]  the task key
//	ARGV[1]  now µs, ARGV[2] events channel,
//	ARGV[3]  queue prefix, ARGV[4] queue, ARGV[5] id
//
// Returns 1 when deleted, 0 when there is no such task, 2 when it is not final.
var deleteScript = goredis.NewScript(luaPrelude + `
local now, pre, q, id, key = ARGV[1], ARGV[3], ARGV[4], ARGV[5], KEYS[1]
evInit(ARGV[2])
local f = redis.call('HMGET', key, 's', 'uk', 'y', 'a')
local s = f[1]
if not s then return 0 end
local sets = {c = 'completed', f = 'failed', x = 'canceled'}
if not sets[s] then return 2 end
redis.call('ZREM', pre .. sets[s], id)
redis.call('DEL', key)
if f[2] then
  local uk = pre .. 'u:' .. f[2]
  if redis.call('GET', uk) == id then redis.call('DEL', uk) end
end
ev('t', id, f[3], q, 'd', f[4] or '0')
flush(now)
return 1
`)

// Purge reads the finish logs that toFinal appends to, one per queue and
// final state: "tm:{q}:fin:<state>", a list of (finished µs, id) pairs.
// Tasks are appended as they finish, so a log is in finish order (up to
// the clock skew between the processes that finish tasks) and the tasks
// that finished before a time are a run at its head: finding them costs
// nothing when there are none. An entry is not removed when its task is
// retried or deleted; it goes stale, and Purge drops it when it reaches
// it: the task is gone, in another state, or finished again at another
// time (its newer entry is further down the log). A pair in a list costs
// about 49 bytes against about 144 for a sorted-set entry, and appending
// costs less than a sorted insert on the ack path.

// purgeScanScript reads, without changing anything, the finish times of
// the due entries at the head of finish logs: those that finished before
// a time (the cutoff, or the end of a window before it). Purge merges
// them across queues to take the oldest first.
//
//	KEYS[1]  routing key (meta key of the first queue)
//	ARGV[1]  log suffix, "fin:completed", "fin:failed" or "fin:canceled"
//	ARGV[2]  time µs: entries that finished before it are due
//	ARGV[3]  most entries to report per queue
//	ARGV[4…] queue prefixes
//
// Returns per queue the finish times (µs strings), in log order, of the
// entries before the first one that is not due, at most ARGV[3].
var purgeScanScript = goredis.NewScript(`
local before, max = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for qi = 4, #ARGV do
  local key = ARGV[qi] .. ARGV[1]
  local due = {}
  -- The common answer is "nothing due": one read of the first entry.
  -- Otherwise read a few pairs, then more while all are due.
  local head = redis.call('LINDEX', key, 0)
  if head and (tonumber(head) or 0) < before then
    local from, want = 0, math.min(16, max)
    while want > 0 do
      local l = redis.call('LRANGE', key, from, from + 2 * want - 1)
      local stop = #l < 2 * want
      for i = 1, #l - 1, 2 do
        if (tonumber(l[i]) or 0) >= before then stop = true; break end
        due[#due + 1] = l[i]
      end
      if stop then break end
      from = from + #l
      want = math.min(4 * want, max - #due)
    end
  end
  out[#out + 1] = due
end
return out
`)

// purgeScript deletes final tasks from the heads of their finish logs.
// Per queue it consumes entries from the head while they finished before
// the queue's cutoff, at most a given number; an entry's task is deleted
// when it is still in the state with that finish time, and the entry is
// dropped as stale otherwise. Like deleteScript it frees unique keys the
// tasks hold; it sends one queue event per queue it deleted from, none
// per task. It wakes nobody.
//
//	KEYS[1]  routing key (meta key of the first queue)
//	ARGV[1]  now µs, ARGV[2] events channel
//	ARGV[3]  state code: "c", "f" or "x"
//	ARGV[4…] queue prefix, queue, most entries to consume and cutoff µs:
//	         quadruples
//
// Returns per queue {deleted, consumed}: tasks deleted, and log entries
// consumed (the deleted ones and the stale ones).
var purgeScript = goredis.NewScript(luaPrelude + `
local now, code = ARGV[1], ARGV[3]
evInit(ARGV[2])
local set = ({c = 'completed', f = 'failed', x = 'canceled'})[code]
local out = {}
for qi = 4, #ARGV, 4 do
  local pre, q, max, before = ARGV[qi], ARGV[qi + 1], tonumber(ARGV[qi + 2]), tonumber(ARGV[qi + 3])
  local log = pre .. 'fin:' .. set
  local l = redis.call('LRANGE', log, 0, 2 * max - 1)
  local used, deleted, dels = 0, 0, {}
  for i = 1, #l - 1, 2 do
    local ft, id = l[i], l[i + 1]
    if (tonumber(ft) or 0) >= before then break end
    used = used + 1
    local key = pre .. 't:' .. id
    local f = redis.call('HMGET', key, 's', 'ft', 'uk')
    if f[1] == code and f[2] == ft then
      deleted = deleted + 1
      dels[#dels + 1] = key
      zrem(pre .. set, id)
      if f[3] then
        local uk = pre .. 'u:' .. f[3]
        if redis.call('GET', uk) == id then dels[#dels + 1] = uk end
      end
    end
  end
  for i = 1, #dels, 4000 do redis.call('DEL', unpack(dels, i, math.min(i + 3999, #dels))) end
  if used > 0 then redis.call('LTRIM', log, 2 * used, -1) end
  if deleted > 0 then ev('q', q) end
  out[#out + 1] = {deleted, used}
end
flush(now)
return out
`)

// reclaimScript returns expired leases to pending (or fails them on
// their last attempt) and promotes due delayed tasks.
//
//	KEYS[1]  routing key
//	ARGV[1]  now µs: leases that expired before it are reclaimed
//	ARGV[2]  events channel, ARGV[3] wake channel
//	ARGV[4…] queue prefix and queue name, pairs
//
// Returns how many leases it reclaimed (at most 1000 per queue per call).
var reclaimScript = goredis.NewScript(luaPrelude + `
local now = ARGV[1]
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
`)

// pauseScript pauses or resumes a queue.
//
//	KEYS[1]  the queue's meta key
//	ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] wake channel,
//	ARGV[4]  queue, ARGV[5] "1" to pause, "0" to resume
var pauseScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], 'paused', ARGV[5])
redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], {{'q', ARGV[4]}}}))
if ARGV[5] == '0' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
`)

// statsScript reads one queue's counts.
//
//	KEYS[1]  the queue's meta key
//	ARGV[1]  queue prefix
//
// Returns {paused, pending, scheduled, processing, retrying, completed,
// failed, canceled, oldest pending ready-at µs or ""}.
var statsScript = goredis.NewScript(`
local pre = ARGV[1]
local pending, oldest = 0, nil
for _, pr in ipairs(redis.call('ZRANGE', pre .. 'prios', 0, -1)) do
  local list = pre .. 'p:' .. pr
  local n = redis.call('LLEN', list)
  if n > 0 then
    pending = pending + n
    local f = redis.call('HMGET', pre .. 't:' .. redis.call('LINDEX', list, 0), 'c', 'ra')
    local ready = math.max(tonumber(f[1] or '0'), tonumber(f[2] or '0'))
    if ready > 0 and (not oldest or ready < oldest) then oldest = ready end
  end
end
return {redis.call('HGET', KEYS[1], 'paused') or '0', pending,
  redis.call('ZCARD', pre .. 'sched'), redis.call('ZCARD', pre .. 'lease'), redis.call('ZCARD', pre .. 'retry'),
  redis.call('ZCARD', pre .. 'completed'), redis.call('ZCARD', pre .. 'failed'), redis.call('ZCARD', pre .. 'canceled'),
  oldest and string.format('%d', oldest) or ''}
`)

// heartbeatScript registers or refreshes a worker.
//
//	KEYS[1]  the workers zset, KEYS[2] the worker's hash
//	ARGV[1]  heartbeat expiry µs (the zset score)
//	ARGV[2]  how long to keep the hash, ms (longer than the heartbeat,
//	         so that the expiry event can still name the worker)
//	ARGV[3]  worker info JSON, ARGV[4] events channel, ARGV[5] worker id,
//	ARGV[6]  now µs
//
// Returns "1" when a stop was requested, else "".
var heartbeatScript = goredis.NewScript(`
redis.call('HSET', KEYS[2], 'info', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
local stop = redis.call('HGET', KEYS[2], 'stop') or ''
redis.call('PUBLISH', ARGV[4], cjson.encode({ARGV[6], {{'w', ARGV[3], stop}}}))
return stop
`)

// requestStopScript flags a live worker to stop.
//
//	KEYS[1]  the workers zset, KEYS[2] the worker's hash
//	ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] worker id
//
// Returns 1, or 0 when no such worker is alive.
var requestStopScript = goredis.NewScript(`
local sc = redis.call('ZSCORE', KEYS[1], ARGV[3])
local info = redis.call('HGET', KEYS[2], 'info')
if not sc or tonumber(sc) <= tonumber(ARGV[1]) or not info then return 0 end
redis.call('HSET', KEYS[2], 'stop', '1')
redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], {{'w', info, '1'}}}))
return 1
`)

// unregisterScript removes a worker.
//
//	KEYS[1]  the workers zset, KEYS[2] the worker's hash
//	ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] worker id
var unregisterScript = goredis.NewScript(`
local info = redis.call('HGET', KEYS[2], 'info')
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[3])
if info then redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], {{'w', info, 'gone'}}})) end
return 1
`)

// expireWorkersScript forgets workers whose heartbeat ran out.
//
//	KEYS[1]  the workers zset
//	ARGV[1]  now µs, ARGV[2] events channel, ARGV[3] worker hash prefix
var expireWorkersScript = goredis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #ids == 0 then return 0 end
local evs = {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  local info = redis.call('HGET', key, 'info') or cjson.encode({id = id})
  redis.call('DEL', key)
  evs[#evs + 1] = {'w', info, 'gone'}
end
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('PUBLISH', ARGV[2], cjson.encode({ARGV[1], evs}))
return #ids
`)

// workersScript lists live workers.
//
//	KEYS[1]  the workers zset
//	ARGV[1]  now µs, ARGV[2] worker hash prefix
//
// Returns {info JSON, stop flag} pairs, flattened.
var workersScript = goredis.NewScript(`
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local f = redis.call('HMGET', ARGV[2] .. id, 'info', 'stop')
  if f[1] then
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or ''
  end
end
return out
`)
