package redis

import (
	"fmt"
	"strings"
)

// keys builds every Redis key and channel name the backend uses. It is
// the one place that knows the layout described in the package doc.
//
// A queue's keys all carry the queue name as their hash tag, "{queue}",
// so Redis Cluster puts them in one slot and a script may touch any of
// them. Scripts receive a queue's key prefix ("tm:{emails}:") in ARGV and
// append the suffixes below; the prefix comes only from queuePrefix.
type keys struct {
	prefix string // "tm" unless the URL says otherwise
}

// Suffixes appended to a queue prefix (in Go here, and in the Lua scripts).
const (
	sfxTask      = "t:"        // + id: the task hash
	sfxPending   = "p:"        // + type + ":" + priority: list of pending ids, in line order
	sfxPrios     = "pp:"       // + type: zset of the priorities that have a list (score -priority)
	sfxPTypes    = "ptypes"    // set of types that have pending tasks
	sfxScheduled = "sched"     // zset: scheduled ids by run-at µs
	sfxRetry     = "retry"     // zset: retrying ids by run-at µs
	sfxLeases    = "lease"     // zset: processing ids by lease expiry µs
	sfxCompleted = "completed" // zset (lex): completed ids
	sfxFailed    = "failed"    // zset (lex): failed ids (the dead-letter queue)
	sfxCanceled  = "canceled"  // zset (lex): canceled ids
	sfxFinLog    = "fin:"      // + completed|failed|canceled: list of (finished µs, id) pairs in finish order, for Purge
	sfxMeta      = "meta"      // hash: paused, used (last use µs), tok (lease token counter), sb and sf (line counters)
	sfxHistory   = "hist"      // hash: "<minute unix s>:c|f" → count
	sfxUnique    = "u:"        // + unique key: string holding the holder's id
)

// queuePrefix returns "tm:{queue}:".
func (k keys) queuePrefix(queue string) string {
	return k.prefix + ":{" + queue + "}:"
}

func (k keys) task(queue, id string) string { return k.queuePrefix(queue) + sfxTask + id }
func (k keys) meta(queue string) string     { return k.queuePrefix(queue) + sfxMeta }

// queues is the set of every queue name ever used; Queues, List, Reclaim
// and id lookups iterate it. It has its own slot.
func (k keys) queues() string { return k.prefix + ":queues" }

// ids is the id index: a hash of every task id to its queue. It keeps ids
// unique across queues and finds a task's queue in one read. It has its
// own slot.
func (k keys) ids() string { return k.prefix + ":ids" }

// due is the due index: a zset of queue names by the earliest µs at
// which Reclaim or Promote has work in the queue (see prelude.lua). One
// server only: on a cluster upkeep walks every known queue. The scripts
// that read it build a queue's prefix from the name as queuePrefix does.
func (k keys) due() string { return k.prefix + ":due" }

// histQueues is the set of forgotten queues whose history is kept: a
// queue's history outlives the queue (History and PruneHistory read it).
func (k keys) histQueues() string { return k.prefix + ":histq" }

// lead is the upkeep leadership: a hash of holder, term and until (µs).
func (k keys) lead() string { return k.prefix + ":lead" }

// workers is the zset of live workers by heartbeat expiry (µs), and
// worker(id) the hash holding one worker's info. They share the "{w}"
// tag so the registry scripts touch one slot.
func (k keys) workers() string         { return k.prefix + ":{w}:workers" }
func (k keys) worker(id string) string { return k.prefix + ":{w}:w:" + id }
func (k keys) workerPrefix() string    { return k.prefix + ":{w}:w:" }
func (k keys) eventsChannel() string   { return k.prefix + ":events" }
func (k keys) cancelChannel() string   { return k.prefix + ":cancels" }
func (k keys) wakeChannel() string     { return k.prefix + ":wake" }

// checkName refuses names that would break the hash tag. The public API
// allows only letters, digits and "_-.:" in queue names anyway.
func checkName(what, name string) error {
	if name == "" || strings.ContainsAny(name, "{}") || len(name) > 512 {
		return fmt.Errorf("%s %q: must be non-empty, at most 512 bytes, without { or }", what, name)
	}
	return nil
}
