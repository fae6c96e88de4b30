-- fence.lua: whether an upkeep call under a term may act, for a cluster,
-- where the leadership hash is in another slot than the queues: the
-- check comes one round trip before the work (see lead.go).
--
--   KEYS[1]  the leadership hash
--   ARGV[1]  clock offset µs (see clock.lua), ARGV[2] term
--
-- Returns 1 when it may, 0 when the term is not the leader's.
local now = clockNow(ARGV[1])
if fenced(KEYS[1], ARGV[2], now) then return 1 end
return 0
