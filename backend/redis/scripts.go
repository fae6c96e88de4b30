package redis

import (
	"embed"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
)

// Every state transition is one Lua script, run atomically by Redis in
// one round trip. The scripts live in scripts/*.lua, each headed by its
// KEYS and ARGV; the task scripts start with prelude.lua, the helpers
// they share. Conventions shared by all scripts:
//
//   - KEYS[1] is a key in the slot the script works in. Redis Cluster
//     routes the call by it. The other keys of a queue are built inside
//     the script from the queue's key prefix, "tm:{queue}:", passed in
//     ARGV (see keys.queuePrefix). Because every such key carries the
//     same "{queue}" hash tag they all live in KEYS[1]'s slot; the Go
//     side never puts queues of different slots in one call when it talks
//     to a cluster.
//   - Times are integer microseconds since the epoch, passed as decimal
//     strings. Every script takes its now from the Redis server's TIME
//     (clock.lua), plus the test offset it receives in ARGV; the Go side
//     passes durations (a lease's length, a retry's delay), never a time
//     read from its own host's clock. Scripts store and compare them but never format a computed
//     time as a Lua number (Lua prints doubles with 14 digits).
//   - Each script publishes what it changed as ONE message on the events
//     channel: cjson [now, [event, …]], an event being an array of
//     strings — ["t", id, type, queue, state code, attempt, worker,
//     result, error, progress %, progress message, progress at] for a
//     task, ["q", queue] for a queue, ["w", info JSON, flag, last
//     heartbeat µs] for a worker.
//   - Events are built only when the events channel has subscribers
//     (PUBSUB NUMSUB): a system nobody watches does not pay for them. On
//     a cluster NUMSUB counts one node's subscribers only, so there the
//     channel is passed as "+name", which means "always".
//   - When a queue's pending list goes from empty to non-empty, or a
//     delayed task is stored, the script publishes the queue name on the
//     wake channel, so that idle Lease calls in every process look again
//     (or recompute when the first delayed task is due) instead of polling.

//go:embed scripts/*.lua
var luaFiles embed.FS

// lua returns the text of scripts/name.lua.
func lua(name string) string {
	b, err := luaFiles.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("redis: missing embedded script " + name + ": " + err.Error())
	}
	return string(b)
}

// taskScript is a script that uses the prelude's helpers.
func taskScript(name string) *goredis.Script {
	return goredis.NewScript(lua("clock") + lua("prelude") + lua(name))
}

// plainScript is a script that needs only the clock.
func plainScript(name string) *goredis.Script { return goredis.NewScript(lua("clock") + lua(name)) }

// deadlineMsg is the last error of a task whose deadline passed while it
// waited (the embedded backend uses the same words).
const deadlineMsg = "deadline exceeded before the task could start"

// The scripts; each file's head documents its KEYS, ARGV and reply.
var (
	enqueueScript = taskScript("enqueue")
	// lease.lua reads the deadline message from a constant put before it.
	leaseScript   = goredis.NewScript(lua("clock") + lua("prelude") + "local DEADLINE_MSG = " + strconv.Quote(deadlineMsg) + "\n" + lua("lease"))
	finishScript  = taskScript("finish")
	extendScript  = plainScript("extend")
	cancelScript  = taskScript("cancel")
	retryScript   = taskScript("retry")
	deleteScript  = taskScript("delete")
	reclaimScript = taskScript("reclaim")
	promoteScript = taskScript("promote")
	pauseScript   = plainScript("pause")
	statsScript   = plainScript("stats")
	nowScript     = plainScript("now")

	forgetQueueScript  = taskScript("forget_queue")
	pruneHistoryScript = taskScript("prune_history")
	leadScript         = plainScript("lead")
	resignScript       = plainScript("resign")
	fenceScript        = taskScript("fence")
	claimIDsScript     = goredis.NewScript(lua("claim_ids"))

	purgeScanScript = plainScript("purge_scan")
	purgeScript     = taskScript("purge")

	heartbeatScript     = plainScript("heartbeat")
	requestStopScript   = plainScript("request_stop")
	unregisterScript    = plainScript("unregister")
	expireWorkersScript = taskScript("expire_workers")
	workersScript       = plainScript("workers")
)
