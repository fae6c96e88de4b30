-- prune_history.lua: removes the per-minute history buckets of the queues
-- whose minute is older than a cutoff.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  the leadership hash ("" when the caller checked), ARGV[3] term
--   ARGV[4]  age µs: buckets whose minute < now − age go
--   ARGV[5…] queue prefixes
--
-- Returns how many (queue, minute) buckets it removed, or -1 when the
-- term is not the leader's.
local now = clockNow(ARGV[1])
if not fenced(ARGV[2], ARGV[3], now) then return -1 end
local cutoff = (tonumber(now) - tonumber(ARGV[4])) / 1000000
local n = 0
for qi = 5, #ARGV do
  local key = ARGV[qi] .. 'hist'
  local old, minutes = {}, {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local m = tonumber(string.match(f, '^(%d+):'))
    if m and m < cutoff then
      old[#old + 1] = f
      if not minutes[m] then minutes[m] = true; n = n + 1 end
    end
  end
  if #old > 0 then variadic('HDEL', key, old) end
end
return n
