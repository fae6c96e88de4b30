package embedded

import (
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// tallies are the queue counters and history minutes of one group
// transaction. Every lease, ack and fail moves two counters and an ack or
// fail a history minute; a group of a hundred of them would read and
// write the same few records a hundred times. They are kept here instead
// and written once, when the group's writes are done (flush).
//
// A write that is refused changes no tally (it refuses before it
// writes), and a group rolled back drops its tallies with it, so "an
// error means nothing changed" holds for them as for every record.
type tallies struct {
	counts  map[string]int64 // countKey → count, as it is now in the transaction
	history map[string]historyRecord
}

// addCount moves a queue's counter of a state by delta, never below 0.
func addCount(tx *txn, queue string, s backend.State, delta int64) error {
	k := string(countKey(queue, s))
	n, ok := tx.tallies.counts[k]
	if !ok {
		if v := tx.Bucket(bucketCounts).Get([]byte(k)); v != nil {
			n = int64(binary.BigEndian.Uint64(v))
		}
	}
	n = max(n+delta, 0)
	if tx.tallies.counts == nil {
		tx.tallies.counts = map[string]int64{}
	}
	tx.tallies.counts[k] = n
	return nil
}

// recordHistory counts a finished attempt in its minute bucket.
func recordHistory(tx *txn, queue string, completed bool) error {
	minute := tx.now.Truncate(time.Minute)
	k := string(append(be64(uint64(minute.Unix())), queue...))
	h, ok := tx.tallies.history[k]
	if !ok {
		if v := tx.Bucket(bucketHistory).Get([]byte(k)); v != nil {
			_ = json.Unmarshal(v, &h)
		}
	}
	if completed {
		h.Completed++
	} else {
		h.Failed++
	}
	if tx.tallies.history == nil {
		tx.tallies.history = map[string]historyRecord{}
	}
	tx.tallies.history[k] = h
	return nil
}

// flush writes the tallies, in key order, and forgets them. A write that
// reads or deletes counters or history records itself flushes first.
func (tx *txn) flush() error {
	cb := tx.Bucket(bucketCounts)
	for _, k := range slices.Sorted(maps.Keys(tx.tallies.counts)) {
		if err := cb.Put([]byte(k), be64(uint64(tx.tallies.counts[k]))); err != nil {
			return err
		}
	}
	hb := tx.Bucket(bucketHistory)
	for _, k := range slices.Sorted(maps.Keys(tx.tallies.history)) {
		v, err := json.Marshal(tx.tallies.history[k])
		if err != nil {
			return err
		}
		if err := hb.Put([]byte(k), v); err != nil {
			return err
		}
	}
	tx.tallies.counts, tx.tallies.history = nil, nil
	return nil
}
