-- enqueue.lua: stores new tasks.
--
--   KEYS[1]  routing key (meta key of the first queue in the call)
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel
--   ARGV[3]  wake channel
--   ARGV[4]  number of groups; each group is one Enqueue call and is
--            stored all or nothing
--   then per group: the task count n, and per task: queue prefix, queue,
--   id, state code ("p" or "s"), priority, run-at µs, unique key ("" for
--   none), unique-until µs, field count k, then k field/value pairs for
--   the hash, starting with the type.
--
-- Returns per group {-1, id} when an id already exists (nothing of the
-- group is stored), else {1, holder…} with, per task, "" when stored or
-- the id of the task holding its unique key.
local now = clockNow(ARGV[1])
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
