// Package redis is the shared backend: any number of API servers and
// worker processes on any number of hosts share one Redis (a single
// server, a Sentinel-managed master, or a Redis Cluster), chosen by URL
// (see Open).
//
// # Transitions
//
// Every transition of the task state machine is one Lua script, run
// atomically in one round trip; scripts/*.lua, embedded, each documents its KEYS and
// ARGV. Concurrent Enqueue calls, and concurrent Ack, Fail, Release and
// SetProgress calls, are gathered into one script call per batch (a
// group commit for round trips), and Lease takes many tasks per call.
//
// # Key layout and Redis Cluster
//
// Every key of a queue carries the queue name as its hash tag, so a
// queue lives in one cluster slot and a script can touch all of it:
//
//	tm:{q}:t:<id>          hash   one task (short field names, see record.go)
//	tm:{q}:p:<type>:<prio> list   pending ids of one type and priority, in line order
//	tm:{q}:pp:<type>       zset   priorities of that type that have a list (score -prio)
//	tm:{q}:ptypes          set    types that have pending tasks
//	tm:{q}:sched           zset   scheduled ids by run-at µs
//	tm:{q}:retry           zset   retrying ids by run-at µs
//	tm:{q}:lease           zset   processing ids by lease expiry µs, and a pin at +inf (scripts.go)
//	tm:{q}:completed       zset   completed ids, ordered by id (lex)
//	tm:{q}:failed          zset   failed ids (the dead-letter queue)
//	tm:{q}:canceled        zset   canceled ids
//	tm:{q}:fin:<state>     list   (finished µs, id) pairs of one final state, in (finish, id) order
//	tm:{q}:meta            hash   paused, last use, lease-token counter, line counters
//	tm:{q}:hist            hash   per-minute completed/failed counts
//	tm:{q}:u:<key>         string the last task stored with a unique key
//	tm:queues              set    the known queues
//	tm:due                 zset   queue -> earliest lease expiry or run-at µs, for upkeep (prelude.lua)
//	tm:ids                 hash   every task id -> its queue (see ids.go)
//	tm:histq               set    forgotten queues whose history is kept
//	tm:lead                hash   upkeep leadership: holder, term, until (see lead.go)
//	tm:{w}:workers         zset   live workers by heartbeat expiry
//	tm:{w}:w:<id>          hash   one worker's info, secret and stop flag
//
// Because a task's key names its queue, the task's queue must be known
// to touch it. The process that leased a task remembers its queue, so
// the hot path — lease, extend, ack — needs no lookup; any other caller
// reads it from the id index, which also keeps ids unique across queues
// (atomically on one server; on a cluster by a claim before the queue
// scripts, see ids.go).
//
// A script never mixes slots: on a cluster, Lease runs one script per run
// of consecutive queues that share a slot (in the worker's order), and a
// batch of submits or acks runs one script per slot, all in one pipeline.
// Consequently, on a cluster an Enqueue spanning several queues is atomic
// per queue rather than as a whole. Unique keys are scoped per queue
// everywhere, as the contract says.
//
// # Retention
//
// Purge deletes old final tasks without looking at the recent ones. The
// final-state sets are ordered by id, for List, so they cannot also be
// ordered by finish time; instead every script that makes a task final
// appends it to its state's finish log, a list that is in finish order
// because tasks are appended as they finish. The tasks finished before a
// cutoff are then a run at the head of each log: Purge reads the first
// entry of each queue's log (nothing more when nothing is due), merges
// the due entries across queues oldest first (purge.go explains how it
// knows how far to read), and consumes them, at most 256 per script
// call. Retry and Delete leave a task's entry behind; it
// goes stale and Purge drops it when it reaches it, telling it from a
// live one by the task's state and finish time. A log entry costs about
// 49 bytes of Redis memory, a sorted-set entry about 144.
//
// # Waking workers
//
// An idle Lease sleeps in the process, not in Redis. Scripts publish the
// queue name on the wake channel when a queue's pending list goes from
// empty to non-empty, and whenever they store a delayed task (a
// scheduled submit, a failed attempt that will be retried), so that
// idle Leases recompute when the first delayed task is due; the
// backend's single pub/sub connection wakes every idle Lease at once. An
// idle Lease also wakes at the first due run-at of its queues, and at
// least every Options.WakeFallback (500ms) in case a message was lost
// with a connection.
//
// # Events
//
// Each script publishes its changes as one message on the events
// channel, but builds it only while the channel has subscribers (PUBSUB
// NUMSUB; on a cluster always, as NUMSUB counts one node's). A process subscribes to it while Subscribe has subscribers
// and unsubscribes when the last one leaves, so a system nobody watches
// does not pay for events. Subscribe decodes them for every subscriber
// of the process, from every process. Cancellations also go to a channel
// of their own, which WatchCancels streams, so workers do not have to
// receive every event of a busy system.
//
// # Clocks
//
// One clock decides: the Redis server's TIME, which every script reads
// itself (scripts/clock.lua), plus Options.ClockOffset (tests only). The
// processes pass durations, never times read from their hosts' clocks:
// lease expiries, retry times, start and finish times, heartbeat expiries
// and the purge order come from the server, so hosts whose clocks
// disagree change nothing. On a cluster each queue's times come from the
// master that holds it. Reading TIME before writing needs effects
// replication: the default since Redis 5, the only mode since 7.
package redis
