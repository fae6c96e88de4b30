-- claim_ids.lua: claims task ids in the id index, all or none, for a
-- cluster, where the index is in another slot than the queues (see
-- ids.go). On one server enqueue.lua checks and fills the index itself.
--
--   KEYS[1]  the id index hash (id -> queue)
--   ARGV…    id, queue: pairs
--
-- Returns "" when every id was free and is now claimed, else the first
-- id that exists (nothing claimed).
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return ARGV[i] end
end
for i = 1, #ARGV, 4000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 3999, #ARGV)))
end
return ''
