-- now.lua: the backend's time, as every script reads it.
--
--   KEYS[1]  routing key (any)
--   ARGV[1]  clock offset µs (see clock.lua)
--
-- Returns now µs.
return clockNow(ARGV[1])
