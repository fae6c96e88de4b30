-- promote.lua: moves every due scheduled and retrying task (run-at <=
-- now) of the queues to the back of its priority, in (run-at, id) order.
--
--   KEYS[1]  routing key
--   ARGV[1]  clock offset µs (see clock.lua)
--   ARGV[2]  events channel, ARGV[3] wake channel
--   ARGV[4]  the leadership hash ("" when the caller checked), ARGV[5] term
--   ARGV[6]  the due index ("" on a cluster; see prelude.lua)
--   ARGV[7]  the keys' prefix ("tm"), ARGV[8] most queues to take from
--            the due index
--   ARGV[9…] queue prefix and queue name, pairs; none: the queues of the
--            due index whose score is at most now
--
-- With a due index, every queue visited gets its score set again.
-- Returns {tasks promoted, queues visited}, or -1 when the term is not
-- the leader's.
local now = clockNow(ARGV[1])
if not fenced(ARGV[4], ARGV[5], now) then return -1 end
evInit(ARGV[2])
dueInit(ARGV[6])
local qs, first = upkeepQueues(9, ARGV[7], tonumber(ARGV[8]), now)
local n = 0
for qi = first, #qs, 2 do
  n = n + promote(qs[qi], qs[qi + 1], now)
end
flush(now, ARGV[3])
if DUEKEY ~= '' then
  for qi = first, #qs, 2 do redue(qs[qi], qs[qi + 1]) end
end
return {n, (#qs - first + 1) / 2}
