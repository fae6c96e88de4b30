package redis

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"strconv"
	"strings"
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

// script is one Lua script: its text and the SHA1 that EVALSHA names
// it by. Calls go through send and runAllOn, which never let go-redis
// send one twice (see onceCmd).
type script struct {
	src, sha string
	// read is set for a script that changes nothing: its errors never
	// wrap ErrUnknownOutcome.
	read bool
}

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(h[:])}
}

// taskScript is a script that uses the prelude's helpers.
func taskScript(name string) *script {
	return newScript(clockHead() + lua("prelude") + lua(name))
}

// plainScript is a script that needs only the clock.
func plainScript(name string) *script { return newScript(clockHead() + lua(name)) }

// readScript is a plainScript that changes nothing.
func readScript(name string) *script {
	s := plainScript(name)
	s.read = true
	return s
}

// leasePin is a member every queue's lease set holds, at score +inf,
// from its first lease until the queue is forgotten. Redis keeps a small
// sorted set as a listpack, where an insert or an update walks and moves
// every entry; a member longer than zset-max-listpack-value (64 bytes by
// default) makes it a skiplist at once, where both cost O(log n). A
// queue's lease set holds about as many members as its tasks in flight,
// a few dozen, so without the pin every lease, extend and ack paid for
// the walk: 5% of the Redis server's work per task in
// `taskmill bench --mode process` (docs/benchmarks.md). Every reader of
// the set skips it: reclaim looks at scores up to now, the counts at
// scores below +inf, and List leaves it out. No task can have it as its
// id: Enqueue refuses it.
var leasePin = "taskmill:lease-pin:" + strings.Repeat(".", 237)

// clockHead starts every script that reads the clock: the constants
// the scripts share, then clock.lua.
func clockHead() string {
	return "local LEASE_PIN = " + strconv.Quote(leasePin) + "\n" + lua("clock")
}

// deadlineMsg is the last error of a task whose deadline passed while it
// waited (the embedded backend uses the same words).
const deadlineMsg = "deadline exceeded before the task could start"

// The scripts; each file's head documents its KEYS, ARGV and reply.
var (
	enqueueScript = taskScript("enqueue")
	// lease.lua reads the deadline message from a constant put before it.
	leaseScript   = newScript(clockHead() + lua("prelude") + "local DEADLINE_MSG = " + strconv.Quote(deadlineMsg) + "\n" + lua("lease"))
	finishScript  = taskScript("finish")
	extendScript  = plainScript("extend")
	cancelScript  = taskScript("cancel")
	retryScript   = taskScript("retry")
	deleteScript  = taskScript("delete")
	reclaimScript = taskScript("reclaim")
	promoteScript = taskScript("promote")
	pauseScript   = plainScript("pause")
	statsScript   = readScript("stats")
	nowScript     = readScript("now")

	forgetQueueScript  = taskScript("forget_queue")
	pruneHistoryScript = taskScript("prune_history")
	leadScript         = plainScript("lead")
	resignScript       = plainScript("resign")
	fenceScript        = taskScript("fence")
	claimIDsScript     = newScript(lua("claim_ids"))

	purgeScanScript = readScript("purge_scan")
	purgeScript     = taskScript("purge")

	heartbeatScript     = plainScript("heartbeat")
	requestStopScript   = plainScript("request_stop")
	unregisterScript    = plainScript("unregister")
	expireWorkersScript = taskScript("expire_workers")
	workersScript       = readScript("workers")
)
