-- enqueue.lua: stores new tasks.
--
--   KEYS[1]  routing key (meta key of the first queue in the call)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel
--   ARGV[3]  wake channel
--   ARGV[4]  the id index hash, "" when the caller claimed the ids itself
--            (a cluster: see ids.go)
--   ARGV[5]  the queue registry set, "" when the caller registered the
--            queues itself (a cluster)
--   ARGV[6]  the due index ("" on a cluster; see prelude.lua)
--   ARGV[7]  the key prefix ("tm"): a queue's keys start with
--            prefix .. ':{' .. queue .. '}:' (keys.queuePrefix)
--   ARGV[8]  number of groups; each group is one Enqueue call and is
--            stored all or nothing
--   then per group: the task count n, and per task: queue, id, priority,
--   type, max attempts, payload ("" for none), a count k, then k
--   name/value pairs: the options a task has ("rs" run-at µs of a
--   scheduled task, "ra" of a pending one; "uk" unique key and "uu"
--   unique-until µs; "cc" the caller's created µs) and the other fields
--   of its hash.
--
-- Each argument costs the call about as much as a short command's work
-- (Redis makes a string of it for Lua and go-redis writes it out), so
-- what most tasks lack is not sent at all.
--
-- Times: created is now; run-at and unique-until move by now − the
-- caller's created, so a delay or a window keeps its length whatever the
-- caller's clock says (with no created they are backend times already).
--
-- Returns per group {-1, id} when an id already exists (in any queue, or
-- twice in the group; nothing of the group is stored), else {1, holder…}
-- with, per task, "" when stored or the id of the task holding its
-- unique key.
local now = clockNow(ARGV[1])
local nowN = nil -- now as a number, read only when a time must move
evInit(ARGV[2])
dueInit(ARGV[6])
local ids, registry, base = ARGV[4], ARGV[5], ARGV[7]
local W = 7 -- values per task before its options
-- One pass over the arguments finds where each task starts; the loops
-- below index them instead of parsing the counts again.
local groups, all = {}, {}
local x = 9
for g = 1, tonumber(ARGV[8]) do
  local n = tonumber(ARGV[x]); x = x + 1
  local starts = {}
  for j = 1, n do
    starts[j] = x
    all[#all + 1] = ARGV[x + 1]
    x = x + W + 2 * tonumber(ARGV[x + 6])
  end
  groups[g] = starts
end
-- One read of the id index for every group of the call: which ids exist.
-- The ids of groups stored earlier in this call join them in `exists`.
local exists = {}
if ids ~= '' then
  for a = 1, #all, 4000 do
    local found = redis.call('HMGET', ids, unpack(all, a, math.min(a + 3999, #all)))
    for y = 1, #found do
      if found[y] then exists[all[a + y - 1]] = true end
    end
  end
end
-- storeTask writes the hash of the task whose values start at ARGV[x]
-- unless another task holds its unique key (held: the keys claimed earlier
-- in its group). It returns the holder's id or "", the task's place in
-- line when it is pending (nil when scheduled), and its run-at.
local function storeTask(x, pre, id, pr, ty, ma, p, held)
  -- The hash: state, created and place (set below), then what the task
  -- has of the rest.
  local h = {'s', 'p', 'c', now, 'q', '0', 'y', ty, 'ma', ma}
  if p ~= '' then h[#h + 1] = 'p'; h[#h + 1] = p end
  if pr ~= '0' then h[#h + 1] = 'pr'; h[#h + 1] = pr end
  local created, ra, uk, uu = '', '', '', ''
  for o = x + W, x + W - 2 + 2 * tonumber(ARGV[x + 6]), 2 do
    local name, v = ARGV[o], ARGV[o + 1]
    if name == 'cc' then
      created = v
    elseif name == 'ra' or name == 'rs' then
      ra = v
      if name == 'rs' then h[2] = 's' end
    elseif name == 'uu' then
      uu = v
    else
      if name == 'uk' then uk = v end
      h[#h + 1] = name; h[#h + 1] = v
    end
  end
  if ra ~= '' or uu ~= '' then
    nowN = nowN or tonumber(now)
    local shift = 0
    if created ~= '' then shift = nowN - tonumber(created) end
    if ra ~= '' then
      ra = string.format('%d', tonumber(ra) + shift)
      h[#h + 1] = 'ra'; h[#h + 1] = ra
    end
    if uu ~= '' then
      uu = string.format('%d', tonumber(uu) + shift)
      h[#h + 1] = 'uu'; h[#h + 1] = uu
    end
  end
  local ukk = nil
  if uk ~= '' then
    ukk = pre .. 'u:' .. uk
    local holder = held[ukk]
    if holder then return holder, nil, ra end
    holder = redis.call('GET', ukk)
    if holder then
      -- The key is held while its holder lives, is not canceled, and
      -- its window has not closed.
      local hf = redis.call('HMGET', pre .. 't:' .. holder, 's', 'uu')
      nowN = nowN or tonumber(now)
      if hf[1] and hf[1] ~= 'x' and nowN < tonumber(hf[2] or '0') then return holder, nil, ra end
    end
  end
  local seq = nil
  if h[2] == 'p' then
    seq = string.format('%d', backSeq(pre))
    h[6] = seq
  end
  redis.call('HSET', pre .. 't:' .. id, unpack(h))
  if ukk then
    held[ukk] = id
    -- The key outlives its window by a day: the window itself is judged
    -- by the holder's uu, on the backend's clock.
    nowN = nowN or tonumber(now)
    local ttl = math.max(0, math.floor((tonumber(uu) - nowN) / 1000)) + 86400000
    redis.call('SET', ukk, id, 'PX', string.format('%d', ttl))
  end
  return '', seq, ra
end
local prefixes, marked = {}, {} -- per queue: its key prefix; stored into
local out = {}
local idset = {} -- id, queue pairs for the id index
for g, starts in ipairs(groups) do
  local res, held = {1}, {}
  local dup = nil
  if #starts == 1 then
    local id = ARGV[starts[1] + 1]
    if exists[id] then dup = id end
  else
    local seen = {}
    for j = 1, #starts do
      local id = ARGV[starts[j] + 1]
      if seen[id] or exists[id] then dup = id; break end
      seen[id] = true
    end
  end
  if dup then
    out[g] = {-1, dup}
  else
    for j = 1, #starts do
      local x = starts[j]
      local q, id, pr, ty, ma, p, k = ARGV[x], ARGV[x + 1], ARGV[x + 2], ARGV[x + 3], ARGV[x + 4], ARGV[x + 5], ARGV[x + 6]
      local pre = prefixes[q]
      if not pre then pre = base .. ':{' .. q .. '}:'; prefixes[q] = pre end
      local holder, seq, ra = '', nil, ''
      if k == '0' and pr == '0' and p ~= '' then
        -- Most tasks have a payload and nothing else: their hash is
        -- written without building a table for it.
        seq = string.format('%d', backSeq(pre))
        redis.call('HSET', pre .. 't:' .. id, 's', 'p', 'c', now, 'q', seq, 'y', ty, 'ma', ma, 'p', p)
      else
        holder, seq, ra = storeTask(x, pre, id, pr, ty, ma, p, held)
      end
      res[j + 1] = holder
      if holder == '' then
        if ids ~= '' then idset[#idset + 1] = id; idset[#idset + 1] = q; exists[id] = true end
        if not marked[q] then
          marked[q] = true
          if registry ~= '' then
            if not NEWQ then NEWQ = {} end
            NEWQ[q] = true
          end
          use(pre)
        end
        if seq then
          toBack(pre, q, id, pr, ty, seq)
        else
          zadd(pre .. 'sched', ra, id)
          due(q, ra)
          wake(q) -- idle leases recompute when to wake
        end
        if EVON then evTask(pre, q, id) end
      end
    end
    out[g] = res
  end
end
if #idset > 0 then variadic('HSET', ids, idset) end
if NEWQ then
  local qs = {}
  for q in pairs(NEWQ) do qs[#qs + 1] = q end
  redis.call('SADD', registry, unpack(qs))
end
flush(now, ARGV[3])
return out
