-- promote.lua: moves every due scheduled and retrying task (run-at <=
-- now) of the queues to the back of its priority, in (run-at, id) order.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel, ARGV[3] wake channel
--   ARGV[4]  the leadership hash ("" when the caller checked), ARGV[5] term
--   ARGV[6…] queue prefix and queue name, pairs
--
-- Returns how many it promoted, or -1 when the term is not the leader's.
local now = clockNow(ARGV[1])
if not fenced(ARGV[4], ARGV[5], now) then return -1 end
evInit(ARGV[2])
local n = 0
for qi = 6, #ARGV, 2 do
  n = n + promote(ARGV[qi], ARGV[qi + 1], now)
end
flush(now, ARGV[3])
return n
