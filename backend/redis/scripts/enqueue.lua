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
--   ARGV[7]  number of groups; each group is one Enqueue call and is
--            stored all or nothing
--   then per group: the task count n, and per task: queue prefix, queue,
--   id, state code ("p" or "s"), priority, type, the caller's created µs
--   ("" for none), run-at µs (""), unique key (""), unique-until µs (""),
--   field count k, then k field/value pairs for the hash.
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
local ids, registry = ARGV[4], ARGV[5]
local W = 11 -- values per task before its fields
-- One pass over the arguments finds where each task starts; the loops
-- below index them instead of parsing the counts again.
local groups, all = {}, {}
local x = 8
for g = 1, tonumber(ARGV[7]) do
  local n = tonumber(ARGV[x]); x = x + 1
  local starts = {}
  for j = 1, n do
    starts[j] = x
    all[#all + 1] = ARGV[x + 2]
    x = x + W + 2 * tonumber(ARGV[x + 10])
  end
  groups[g] = starts
end
-- One read of the id index for every group of the call: which ids exist.
-- Groups stored earlier in this call are tracked in `taken`.
local exists, taken = {}, {}
if ids ~= '' then
  for a = 1, #all, 4000 do
    local found = redis.call('HMGET', ids, unpack(all, a, math.min(a + 3999, #all)))
    for y = 1, #found do
      if found[y] then exists[all[a + y - 1]] = true end
    end
  end
end
local out = {}
local idset = {} -- id, queue pairs for the id index
for g, starts in ipairs(groups) do
  local res, seen, held = {1}, {}, {}
  local dup = nil
  for j = 1, #starts do
    local id = ARGV[starts[j] + 2]
    if seen[id] or exists[id] or taken[id] then dup = id; break end
    seen[id] = true
  end
  if dup then
    out[g] = {-1, dup}
  else
    for j = 1, #starts do
      local x = starts[j]
      local pre, q, id, st, pr, ty = ARGV[x], ARGV[x + 1], ARGV[x + 2], ARGV[x + 3], ARGV[x + 4], ARGV[x + 5]
      local created, ra, uk, uu = ARGV[x + 6], ARGV[x + 7], ARGV[x + 8], ARGV[x + 9]
      if ra ~= '' or uu ~= '' then
        nowN = nowN or tonumber(now)
        local shift = 0
        if created ~= '' then shift = nowN - tonumber(created) end
        if ra ~= '' then ra = string.format('%d', tonumber(ra) + shift) end
        if uu ~= '' then uu = string.format('%d', tonumber(uu) + shift) end
      end
      local holder = ''
      local ukk = nil
      if uk ~= '' then
        ukk = pre .. 'u:' .. uk
        holder = held[ukk] or ''
        if holder == '' then
          local h = redis.call('GET', ukk)
          if h then
            -- The key is held while its holder lives, is not canceled,
            -- and its window has not closed.
            local hf = redis.call('HMGET', pre .. 't:' .. h, 's', 'uu')
            nowN = nowN or tonumber(now)
            if hf[1] and hf[1] ~= 'x' and nowN < tonumber(hf[2] or '0') then holder = h end
          end
        end
      end
      res[j + 1] = holder
      if holder == '' then
        local key = pre .. 't:' .. id
        local k = tonumber(ARGV[x + 10])
        local seq = '0'
        if st == 'p' then seq = string.format('%d', backSeq(pre)) end
        redis.call('HSET', key, 's', st, 'c', now, 'q', seq, unpack(ARGV, x + W, x + W - 1 + 2 * k))
        if ra ~= '' then redis.call('HSET', key, 'ra', ra) end
        if ukk then
          redis.call('HSET', key, 'uu', uu)
          held[ukk] = id
          -- The key outlives its window by a day: the window itself is
          -- judged by the holder's uu, on the backend's clock.
          nowN = nowN or tonumber(now)
          local ttl = math.max(0, math.floor((tonumber(uu) - nowN) / 1000)) + 86400000
          redis.call('SET', ukk, id, 'PX', string.format('%d', ttl))
        end
        if ids ~= '' then idset[#idset + 1] = id; idset[#idset + 1] = q; taken[id] = true end
        if registry ~= '' then
          if not NEWQ then NEWQ = {} end
          NEWQ[q] = true
        end
        use(pre)
        if st == 'p' then
          toBack(pre, q, id, pr, ty, seq)
        else
          zadd(pre .. 'sched', ra, id)
          due(q, ra)
          wake(q) -- idle leases recompute when to wake
        end
        evTask(pre, q, id)
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
