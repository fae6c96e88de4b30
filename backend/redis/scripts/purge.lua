-- purge.lua: deletes final tasks from the heads of their finish logs.
-- Per queue it consumes entries from the head while they finished before
-- the queue's cutoff, at most a given number; an entry's task is deleted
-- when it is still in the state with that finish time, and the entry is
-- dropped as stale otherwise. Like delete.lua it frees unique keys the
-- tasks hold. It sends no event: Purge sends one queue_update per queue
-- it deleted from, once, whatever the number of calls. It wakes nobody.
--
--   KEYS[1]  routing key (meta key of the first queue)
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] events channel
--   ARGV[3]  state code: "c", "f" or "x"
--   ARGV[4]  the leadership hash ("" when the caller checked), ARGV[5] term
--   ARGV[6]  the id index hash ("" on a cluster: the caller forgets the ids)
--   ARGV[7…] queue prefix, queue, most entries to consume and cutoff µs:
--            quadruples
--
-- Returns per queue {deleted, consumed, ids…}: tasks deleted, log
-- entries consumed (the deleted ones and the stale ones), and the ids
-- deleted; or -1 when the term is not the leader's (nothing changed).
local now, code = clockNow(ARGV[1]), ARGV[3]
if not fenced(ARGV[4], ARGV[5], now) then return -1 end
local ids = ARGV[6]
local set = ({c = 'completed', f = 'failed', x = 'canceled'})[code]
local out = {}
for qi = 7, #ARGV, 4 do
  local pre, q, max, before = ARGV[qi], ARGV[qi + 1], tonumber(ARGV[qi + 2]), tonumber(ARGV[qi + 3])
  local log = pre .. 'fin:' .. set
  local l = redis.call('LRANGE', log, 0, 2 * max - 1)
  local used, deleted, dels, gone, seen = 0, 0, {}, {}, {}
  for i = 1, #l - 1, 2 do
    local ft, id = l[i], l[i + 1]
    if (tonumber(ft) or 0) >= before then break end
    used = used + 1
    local key = pre .. 't:' .. id
    local f = redis.call('HMGET', key, 's', 'ft', 'uk')
    -- A task retried and finished again at the same µs has two live
    -- looking entries: the first deletes it, the second is stale.
    if f[1] == code and f[2] == ft and not seen[id] then
      seen[id] = true
      deleted = deleted + 1
      dels[#dels + 1] = key
      gone[#gone + 1] = id
      zrem(pre .. set, id)
      if f[3] then
        local uk = pre .. 'u:' .. f[3]
        if redis.call('GET', uk) == id then dels[#dels + 1] = uk end
      end
    end
  end
  for i = 1, #dels, 4000 do redis.call('DEL', unpack(dels, i, math.min(i + 3999, #dels))) end
  if used > 0 then redis.call('LTRIM', log, 2 * used, -1) end
  if ids ~= '' and #gone > 0 then variadic('HDEL', ids, gone) end
  local r = {deleted, used}
  for _, id in ipairs(gone) do r[#r + 1] = id end
  out[#out + 1] = r
end
flush(now)
return out
