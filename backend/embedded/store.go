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
// scheduled and leases, and pos remembers which key, so every transition
// can move it without a scan.
var (
	bucketTasks     = []byte("tasks")     // id → task JSON
	bucketReady     = []byte("ready")     // queue → (inverted priority, seq) → id
	bucketScheduled = []byte("scheduled") // (run-at ns, id) → id: scheduled and retrying
	bucketLeases    = []byte("leases")    // (expiry ns, id) → id: processing
	bucketPos       = []byte("pos")       // id → kind byte + index key
	bucketStates    = []byte("states")    // state → id → {}: for List by state
	bucketCounts    = []byte("counts")    // queue \x00 state → count
	bucketQueues    = []byte("queues")    // queue → {"paused":bool}
	bucketUnique    = []byte("unique")    // unique key → id
	bucketHistory   = []byte("history")   // (minute s, queue) → {"c":n,"f":n}
	bucketWorkers   = []byte("workers")   // id → workerRecord JSON
	bucketMeta      = []byte("meta")      // counters
	bucketFinished  = []byte("finished")  // final state → (finished ns, id) → id: for Purge
)

const (
	posReady     byte = 'r'
	posScheduled byte = 's'
	posLease     byte = 'l'
	posFinished  byte = 'f' // followed by the state, a 0 byte and the finished key
)

func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketTasks, bucketReady, bucketScheduled, bucketLeases, bucketPos,
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
	return createFinishedIndex(tx)
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
			return tx.Bucket(bucketPos).Put(id, finishedPos(s, k))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func finishedPos(s backend.State, k []byte) []byte {
	pos := append([]byte{posFinished}, s...)
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

func readyKey(priority int, seq uint64) []byte {
	return append(be64(uint64(maxPriorityKey-priority)), be64(seq)...)
}

func countKey(queue string, s backend.State) []byte {
	return append(append([]byte(queue), 0), s...)
}

func getTask(tx *bolt.Tx, id string) (*backend.Task, error) {
	v := tx.Bucket(bucketTasks).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	t := new(backend.Task)
	if err := json.Unmarshal(v, t); err != nil {
		return nil, fmt.Errorf("decode task %s: %w", id, err)
	}
	return t, nil
}

// save writes t and moves its indexes from the state it had (prev, "" for
// a new task) to the state it has now.
func save(tx *txn, t *backend.Task, prev backend.State) error {
	id := []byte(t.ID)
	if err := unindex(tx, t, prev); err != nil {
		return err
	}
	switch t.State {
	case backend.StatePending:
		qb, err := tx.Bucket(bucketReady).CreateBucketIfNotExists([]byte(t.Queue))
		if err != nil {
			return err
		}
		seq, _ := qb.NextSequence()
		k := readyKey(t.Priority, seq)
		if err := qb.Put(k, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPos).Put(id, append([]byte{posReady}, k...)); err != nil {
			return err
		}
		tx.wakeLeasers()
	case backend.StateScheduled, backend.StateRetrying:
		k := timeKey(t.RunAt, t.ID)
		if err := tx.Bucket(bucketScheduled).Put(k, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPos).Put(id, append([]byte{posScheduled}, k...)); err != nil {
			return err
		}
		tx.wakeLeasers() // a blocked Lease may need to wake earlier
	case backend.StateProcessing:
		k := timeKey(t.LeaseExpiresAt, t.ID)
		if err := tx.Bucket(bucketLeases).Put(k, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPos).Put(id, append([]byte{posLease}, k...)); err != nil {
			return err
		}
	case backend.StateCompleted, backend.StateFailed, backend.StateCanceled:
		k := timeKey(t.FinishedAt, t.ID)
		if err := tx.Bucket(bucketFinished).Bucket([]byte(t.State)).Put(k, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPos).Put(id, finishedPos(t.State, k)); err != nil {
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
		} else if err := ensureQueue(tx, t.Queue); err != nil {
			return err
		}
		if err := tx.Bucket(bucketStates).Bucket([]byte(t.State)).Put(id, nil); err != nil {
			return err
		}
		if err := addCount(tx, t.Queue, t.State, 1); err != nil {
			return err
		}
	}
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketTasks).Put(id, v); err != nil {
		return err
	}
	tx.taskEvent(t)
	return nil
}

// unindex removes t from whichever of ready, scheduled, leases or the
// finished index holds it.
func unindex(tx *txn, t *backend.Task, prev backend.State) error {
	if prev == "" {
		return nil
	}
	id := []byte(t.ID)
	pos := tx.Bucket(bucketPos).Get(id)
	if pos == nil {
		return nil
	}
	key := append([]byte(nil), pos[1:]...)
	var err error
	switch pos[0] {
	case posReady:
		if qb := tx.Bucket(bucketReady).Bucket([]byte(t.Queue)); qb != nil {
			err = qb.Delete(key)
		}
	case posScheduled:
		err = tx.Bucket(bucketScheduled).Delete(key)
	case posLease:
		err = tx.Bucket(bucketLeases).Delete(key)
	case posFinished:
		if i := bytes.IndexByte(key, 0); i > 0 {
			if fb := tx.Bucket(bucketFinished).Bucket(key[:i]); fb != nil {
				err = fb.Delete(key[i+1:])
			}
		}
	}
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPos).Delete(id)
}

func addCount(tx *txn, queue string, s backend.State, delta int64) error {
	cb := tx.Bucket(bucketCounts)
	k := countKey(queue, s)
	var n int64
	if v := cb.Get(k); v != nil {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n < 0 {
		n = 0
	}
	return cb.Put(k, be64(uint64(n)))
}

type queueRecord struct {
	Paused bool `json:"paused"`
	// Used is the last enqueue, lease, pause or resume (ForgetQueues).
	Used time.Time `json:"used,omitzero"`
}

// ensureQueue makes the queue known and records its use now.
func ensureQueue(tx *txn, queue string) error {
	q := getQueue(tx.Tx, queue)
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

func getQueue(tx *bolt.Tx, queue string) queueRecord {
	var q queueRecord
	if v := tx.Bucket(bucketQueues).Get([]byte(queue)); v != nil {
		_ = json.Unmarshal(v, &q)
	}
	return q
}

// recordHistory counts a finished attempt in its minute bucket.
func recordHistory(tx *txn, queue string, completed bool) error {
	minute := tx.now.Truncate(time.Minute)
	k := append(be64(uint64(minute.Unix())), queue...)
	hb := tx.Bucket(bucketHistory)
	var h historyRecord
	if v := hb.Get(k); v != nil {
		_ = json.Unmarshal(v, &h)
	}
	if completed {
		h.Completed++
	} else {
		h.Failed++
	}
	v, _ := json.Marshal(h)
	return hb.Put(k, v)
}

type historyRecord struct {
	Completed int `json:"c"`
	Failed    int `json:"f"`
}
