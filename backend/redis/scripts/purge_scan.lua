-- purge_scan.lua: reads, without changing anything, the finish times of
-- the due entries at the head of finish logs: those that finished before
-- a time (the cutoff, or the end of a window before it). Purge merges
-- them across queues to take the oldest first.
--
--   KEYS[1]  routing key (meta key of the first queue)
--   ARGV[1]  log suffix, "fin:completed", "fin:failed" or "fin:canceled"
--   ARGV[2]  time µs: entries that finished before it are due
--   ARGV[3]  most entries to report per queue
--   ARGV[4…] queue prefixes
--
-- Returns per queue "<finish µs> <id>" strings, in log order, of the
-- entries before the first one that is not due, at most ARGV[3].
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
        due[#due + 1] = l[i] .. ' ' .. l[i + 1]
      end
      if stop then break end
      from = from + #l
      want = math.min(4 * want, max - #due)
    end
  end
  out[#out + 1] = due
end
return out
