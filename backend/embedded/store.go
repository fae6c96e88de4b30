package embedded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	bolt "go.etcd.io/bbolt"
)

// The buckets. A task that is not final sits in exactly one of ready,
// due and leases, a final one in finished, and its record remembers
// which key (its position), so every transition can move it without a
// scan. A JSON record, written before records were binary, has its
// position in pos instead, until it is next written.
//
// The lease of a processing task (worker, token, secret, expiry) lives in
// its own small record in leaseOf, apart from the task's record (payload,
// attempt history): a heartbeat's Extend rewrites that record and the
// expiry index, never the task.
var (
	bucketTasks     = []byte("tasks")     // id → task JSON, lease fields empty
	bucketLeaseOf   = []byte("lease")     // id → leaseRecord JSON: processing tasks
	bucketReady     = []byte("ready")     // queue → (inverted priority, place) → id
	bucketDue       = []byte("due")       // queue → (run-at ns, id) → id: scheduled and retrying
	bucketLeases    = []byte("leases")    // (expiry ns, id) → id: processing
	bucketPos       = []byte("pos")       // id → kind byte + index key, for JSON records (older stores)
	bucketStates    = []byte("states")    // state → id → {}: for List by state
	bucketCounts    = []byte("counts")    // queue \x00 state → count
	bucketQueues    = []byte("queues")    // queue → queueRecord JSON
	bucketUnique    = []byte("unique")    // queue \x00 unique key → id
	bucketHistory   = []byte("history")   // (minute s, queue) → {"c":n,"f":n}
	bucketWorkers   = []byte("workers")   // id → workerRecord JSON
	bucketMeta      = []byte("meta")      // counters, leadership
	bucketFinished  = []byte("finished")  // final state → (finished ns, id) → id: for Purge
	bucketScheduled = []byte("scheduled") // before "due": (run-at ns, id) → id, all queues; moved at Open
)

const (
	posReady    byte = 'r'
	posDue      byte = 'd' // followed by the queue, a 0 byte and the due key
	posLease    byte = 'l'
	posFinished byte = 'f' // followed by the state, a 0 byte and the finished key
)

func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketTasks, bucketLeaseOf, bucketReady, bucketDue, bucketLeases, bucketPos,
		bucketStates, bucketCounts, bucketQueues, bucketUnique, bucketHistory, bucketWorkers, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	states := tx.Bucket(bucketStates)
	for _, s := range backend.States {
		if _, err := states.CreateBucketIfNotExists([]byte(s)); err != nil {
			return err
		}
	}
	if err := createFinishedIndex(tx); err != nil {
		return err
	}
	if err := migrateScheduled(tx); err != nil {
		return err
	}
	return migrateUnique(tx)
}

// migrateUnique scopes the unique keys of older stores, which were global,
// to their holder's queue.
func migrateUnique(tx *bolt.Tx) error {
	ub := tx.Bucket(bucketUnique)
	type entry struct{ old, id []byte }
	var old []entry
	err := ub.ForEach(func(k, v []byte) error {
		if bytes.IndexByte(k, 0) < 0 {
			old = append(old, entry{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range old {
		if err := ub.Delete(e.old); err != nil {
			return err
		}
		t, err := getTask(tx, string(e.id))
		if err != nil {
			continue // its holder is gone: the key is free
		}
		if err := ub.Put(uniqueKeyOf(t.Queue, string(e.old)), e.id); err != nil {
			return err
		}
	}
	return nil
}

// finalStates are the states the finished index covers.
var finalStates = []backend.State{backend.StateCompleted, backend.StateFailed, backend.StateCanceled}

// createFinishedIndex creates the index Purge reads and, for a store made
// before it existed, fills it from the final tasks already there.
func createFinishedIndex(tx *bolt.Tx) error {
	if tx.Bucket(bucketFinished) != nil {
		return nil
	}
	fb, err := tx.CreateBucket(bucketFinished)
	if err != nil {
		return err
	}
	for _, s := range finalStates {
		sb, err := fb.CreateBucket([]byte(s))
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketStates).Bucket([]byte(s)).ForEach(func(id, _ []byte) error {
			t, err := getTask(tx, string(id))
			if err != nil {
				return err
			}
			k := timeKey(t.FinishedAt, t.ID)
			if err := sb.Put(k, id); err != nil {
				return err
			}
			return tx.Bucket(bucketPos).Put(id, sepPos(posFinished, string(s), k))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migrateScheduled moves the flat scheduled index of older stores into
// the per-queue due index, so that Lease promotes its own queues with a
// seek instead of a scan over every queue's delayed tasks.
func migrateScheduled(tx *bolt.Tx) error {
	old := tx.Bucket(bucketScheduled)
	if old == nil {
		return nil
	}
	err := old.ForEach(func(k, id []byte) error {
		t, err := getTask(tx, string(id))
		if err != nil {
			return err
		}
		qb, err := tx.Bucket(bucketDue).CreateBucketIfNotExists([]byte(t.Queue))
		if err != nil {
			return err
		}
		if err := qb.Put(k, id); err != nil {
			return err
		}
		return tx.Bucket(bucketPos).Put(id, sepPos(posDue, t.Queue, k))
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(bucketScheduled)
}

// sepPos is a position made of a kind, a name (queue or state), a 0 byte
// and a key.
func sepPos(kind byte, name string, k []byte) []byte {
	pos := append([]byte{kind}, name...)
	return append(append(pos, 0), k...)
}

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func timeKey(t time.Time, id string) []byte {
	return append(be64(uint64(t.UnixNano())), id...)
}

func keyTime(k []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC() }

// maxPriorityKey is what ready keys invert priorities against. It is
// larger than backend.MaxPriority because stores made before the range
// was enforced may hold larger priorities; the key layout must not change.
const maxPriorityKey = 1 << 30

// lineStart is where places in a line start: the back counts up from it
// (per queue), the front down from it (one counter). Stores made before
// the front existed hold places below it, which stay ahead of both.
const lineStart = 1 << 40

func readyKey(priority int, place uint64) []byte {
	return append(be64(uint64(maxPriorityKey-priority)), be64(place)...)
}

func countKey(queue string, s backend.State) []byte {
	return append(append([]byte(queue), 0), s...)
}

func uniqueKeyOf(queue, key string) []byte {
	return append(append([]byte(queue), 0), key...)
}

// leaseRecord is the lease of a processing task, kept apart from the task.
type leaseRecord struct {
	WorkerID  string    `json:"w"`
	Token     uint64    `json:"t"`
	Secret    string    `json:"s"`
	ExpiresAt time.Time `json:"e"`
}

// getTask loads a task with its lease.
func getTask(tx *bolt.Tx, id string) (*backend.Task, error) {
	t, _, err := readTask(tx, id)
	return t, err
}

// readTask loads a task with its lease and its position: the kind of
// index holding it and its key there, the key of a processing task being
// its lease's expiry key (the record holds the kind alone, so that Extend
// never rewrites the record). The position is nil when the record is
// JSON, from a store written before positions were kept in records; it is
// then in the pos bucket.
func readTask(tx *bolt.Tx, id string) (*backend.Task, []byte, error) {
	v := tx.Bucket(bucketTasks).Get([]byte(id))
	if v == nil {
		return nil, nil, fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	t, pos, err := decodeTaskAt(v)
	if err != nil {
		return nil, nil, fmt.Errorf("decode task %s: %w", id, err)
	}
	if t.State == backend.StateProcessing {
		if lv := tx.Bucket(bucketLeaseOf).Get([]byte(id)); lv != nil {
			l, err := decodeLease(lv)
			if err != nil {
				return nil, nil, fmt.Errorf("decode lease of task %s: %w", id, err)
			}
			t.WorkerID, t.LeaseToken, t.LeaseSecret, t.LeaseExpiresAt = l.WorkerID, l.Token, l.Secret, l.ExpiresAt
			if pos != nil {
				pos = leasePos(l.ExpiresAt, id)
			}
		}
	}
	return t, pos, nil
}

// loadTask is getTask for a write that may move the task: it remembers
// the task's position, so that unindex need not look it up again.
func (tx *txn) loadTask(id string) (*backend.Task, error) {
	t, pos, err := readTask(tx.Tx, id)
	if err != nil {
		return nil, err
	}
	if pos != nil {
		tx.remember(id, pos)
	}
	return t, nil
}

func (tx *txn) remember(id string, pos []byte) {
	if tx.positions == nil {
		tx.positions = map[string][]byte{}
	}
	tx.positions[id] = pos
}

// leasePos is the position of a task leased until expires.
func leasePos(expires time.Time, id string) []byte {
	return append([]byte{posLease}, timeKey(expires, id)...)
}

// save writes t and moves its indexes from the state it had (prev, "" for
// a new task) to the state it has now. A pending task goes to the back of
// its line unless front is set.
func save(tx *txn, t *backend.Task, prev backend.State) error {
	return saveAt(tx, t, prev, false)
}

func saveAt(tx *txn, t *backend.Task, prev backend.State, front bool) error {
	id := []byte(t.ID)
	legacy, err := unindex(tx, t, prev)
	if err != nil {
		return err
	}
	if legacy {
		// The record was JSON, its position in the pos bucket; the record
		// written below holds it from now on.
		if err := tx.Bucket(bucketPos).Delete(id); err != nil {
			return err
		}
	}
	var pos, recPos []byte // the task's position, and what its record holds of it
	switch t.State {
	case backend.StatePending:
		qb, err := tx.Bucket(bucketReady).CreateBucketIfNotExists([]byte(t.Queue))
		if err != nil {
			return err
		}
		place, err := nextPlace(tx, qb, front)
		if err != nil {
			return err
		}
		k := readyKey(t.Priority, place)
		if err := qb.Put(k, id); err != nil {
			return err
		}
		pos = append([]byte{posReady}, k...)
		tx.wakeLeasers()
	case backend.StateScheduled, backend.StateRetrying:
		qb, err := tx.Bucket(bucketDue).CreateBucketIfNotExists([]byte(t.Queue))
		if err != nil {
			return err
		}
		k := timeKey(t.RunAt, t.ID)
		if err := qb.Put(k, id); err != nil {
			return err
		}
		pos = sepPos(posDue, t.Queue, k)
		tx.wakeLeasers() // a blocked Lease may need to wake earlier
	case backend.StateProcessing:
		if err := putLease(tx, t); err != nil {
			return err
		}
		pos, recPos = leasePos(t.LeaseExpiresAt, t.ID), leaseOnly
	case backend.StateCompleted, backend.StateFailed, backend.StateCanceled:
		k := timeKey(t.FinishedAt, t.ID)
		if err := tx.Bucket(bucketFinished).Bucket([]byte(t.State)).Put(k, id); err != nil {
			return err
		}
		pos = sepPos(posFinished, string(t.State), k)
	}
	if prev == backend.StateProcessing && t.State != backend.StateProcessing {
		if err := tx.Bucket(bucketLeaseOf).Delete(id); err != nil {
			return err
		}
	}
	if prev != t.State {
		if prev != "" {
			if err := tx.Bucket(bucketStates).Bucket([]byte(prev)).Delete(id); err != nil {
				return err
			}
			if err := addCount(tx, t.Queue, prev, -1); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketStates).Bucket([]byte(t.State)).Put(id, nil); err != nil {
			return err
		}
		if err := addCount(tx, t.Queue, t.State, 1); err != nil {
			return err
		}
	}
	if recPos == nil {
		recPos = pos
	}
	if err := putTaskRecord(tx, t, recPos); err != nil {
		return err
	}
	tx.remember(t.ID, pos)
	tx.taskEvent(t)
	return nil
}

// leaseOnly is the position a processing task's record holds: the kind
// alone, its key being the lease record's (readTask).
var leaseOnly = []byte{posLease}

// putTaskRecord writes the task's record without its lease, at pos.
func putTaskRecord(tx *txn, t *backend.Task, pos []byte) error {
	v, err := encodeTask(make([]byte, 0, recordSize(t)+len(pos)), t, pos)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketTasks).Put([]byte(t.ID), v)
}

// putLease writes a processing task's lease record and its expiry index
// entry (the old entry must be gone: unindex).
func putLease(tx *txn, t *backend.Task) error {
	id := []byte(t.ID)
	v := encodeLease(nil, leaseRecord{WorkerID: t.WorkerID, Token: t.LeaseToken, Secret: t.LeaseSecret, ExpiresAt: t.LeaseExpiresAt})
	if err := tx.Bucket(bucketLeaseOf).Put(id, v); err != nil {
		return err
	}
	return tx.Bucket(bucketLeases).Put(timeKey(t.LeaseExpiresAt, t.ID), id)
}

var frontKey = []byte("front")

// nextPlace returns the next place at the back of a queue's line (its
// bucket's sequence) or at the front of every line (one counter).
func nextPlace(tx *txn, qb *bolt.Bucket, front bool) (uint64, error) {
	if !front {
		seq, err := qb.NextSequence()
		return lineStart + seq, err
	}
	mb := tx.Bucket(bucketMeta)
	var n uint64
	if v := mb.Get(frontKey); v != nil {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return lineStart - n, mb.Put(frontKey, be64(n))
}

// unindex removes t from whichever of ready, due, leases or the finished
// index holds it, and reports whether its position was in the pos bucket
// (a JSON record of an older store), which saveAt then deletes.
func unindex(tx *txn, t *backend.Task, prev backend.State) (legacy bool, err error) {
	if prev == "" {
		return false, nil
	}
	pos, ok := tx.positions[t.ID]
	if !ok {
		// Not loaded by loadTask: read the record again.
		if _, pos, err = readTask(tx.Tx, t.ID); err != nil {
			return false, err
		}
	}
	if pos == nil {
		if pos = tx.Bucket(bucketPos).Get([]byte(t.ID)); pos == nil {
			return false, nil
		}
		legacy = true
	}
	key := append([]byte(nil), pos[1:]...)
	switch pos[0] {
	case posReady:
		if qb := tx.Bucket(bucketReady).Bucket([]byte(t.Queue)); qb != nil {
			err = qb.Delete(key)
		}
	case posLease:
		if len(key) > 0 {
			err = tx.Bucket(bucketLeases).Delete(key)
		}
	case posDue, posFinished:
		parent := bucketDue
		if pos[0] == posFinished {
			parent = bucketFinished
		}
		if i := bytes.IndexByte(key, 0); i > 0 {
			if b := tx.Bucket(parent).Bucket(key[:i]); b != nil {
				err = b.Delete(key[i+1:])
			}
		}
	}
	return legacy, err
}

type queueRecord struct {
	Paused bool `json:"paused"`
	// Used is the last enqueue, lease, pause or resume (ForgetQueues).
	Used time.Time `json:"used,omitzero"`
}

// useQueue makes the queue known and records its use now, once per
// transaction.
func useQueue(tx *txn, queue string) error {
	if tx.used[queue] {
		return nil
	}
	tx.used[queue] = true
	q, _ := getQueue(tx.Tx, queue)
	q.Used = tx.now
	return putQueue(tx, queue, q)
}

func putQueue(tx *txn, queue string, q queueRecord) error {
	v, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketQueues).Put([]byte(queue), v)
}

// getQueue returns a queue's record and whether the queue is known.
func getQueue(tx *bolt.Tx, queue string) (queueRecord, bool) {
	var q queueRecord
	v := tx.Bucket(bucketQueues).Get([]byte(queue))
	if v != nil {
		_ = json.Unmarshal(v, &q)
	}
	return q, v != nil
}

type historyRecord struct {
	Completed int `json:"c"`
	Failed    int `json:"f"`
}
