package embedded_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/embedded"
	bolt "go.etcd.io/bbolt"
)

// openOldStore copies testdata/store-3d04e3d.db.gz, a store written by
// commit 3d04e3d (JSON records; testdata/gen-3d04e3d is the program that
// wrote it), into a new directory and opens it at the store's time plus
// one minute.
func openOldStore(t *testing.T) (*embedded.Backend, *backendtest.Clock, string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "store-3d04e3d.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var db bytes.Buffer
	if _, err := db.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, embedded.FileName), db.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := backendtest.NewClock(time.Date(2026, 12, 7, 9, 1, 1, 0, time.UTC))
	b, err := embedded.Open(dir, embedded.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, clock, dir
}

// TestOpensStoreOfEarlierRelease opens a store written before records
// were binary: every task reads back as it was written, the task left
// processing (its lease a JSON record) is reclaimed at Open, and every
// transition works on the old records.
func TestOpensStoreOfEarlierRelease(t *testing.T) {
	ctx := context.Background()
	b, clock, dir := openOldStore(t)
	get := func(id string) *backend.Task {
		t.Helper()
		task, err := b.Get(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return task
	}
	written := time.Date(2026, 12, 7, 9, 0, 0, 123456789, time.UTC)

	p := get("t-pending")
	if p.State != backend.StatePending || p.Priority != 5 || string(p.Payload) != `{"n":"t-pending"}` ||
		p.Timeout != backend.Duration(30*time.Second) || !p.Deadline.Equal(written.Add(240*time.Hour)) ||
		p.UniqueKey != "u1" || !p.UniqueUntil.Equal(written.Add(time.Hour)) || !p.CreatedAt.Equal(written) ||
		p.TraceContext["traceparent"] == "" {
		t.Fatalf("t-pending read back as %+v", p)
	}
	if s := get("t-scheduled"); s.State != backend.StateScheduled || !s.RunAt.Equal(written.Add(time.Hour)) {
		t.Fatalf("t-scheduled read back as %+v", s)
	}
	l := get("t-processing")
	if l.State != backend.StatePending || l.Attempt != 0 || l.LeaseLosses != 1 || len(l.Attempts) != 1 ||
		l.Attempts[0].Outcome != "lease_expired" || !strings.Contains(l.LastError, "w1") {
		t.Fatalf("t-processing, reclaimed at Open, read back as %+v", l)
	}
	if c := get("t-completed"); c.State != backend.StateCompleted || string(c.Result) != `{"ok":true}` ||
		len(c.Attempts) != 1 || c.Attempts[0].Outcome != "completed" || c.Attempts[0].WorkerID != "w1" {
		t.Fatalf("t-completed read back as %+v", c)
	}
	if r := get("t-retrying"); r.State != backend.StateRetrying || r.LastError != "try again" || r.Attempt != 1 {
		t.Fatalf("t-retrying read back as %+v", r)
	}
	if f := get("t-failed"); f.State != backend.StateFailed || f.LastError != "no more" {
		t.Fatalf("t-failed read back as %+v", f)
	}
	if x := get("t-canceled"); x.State != backend.StateCanceled {
		t.Fatalf("t-canceled read back as %+v", x)
	}

	// The unique key written then still holds.
	res, err := b.Enqueue(ctx, []*backend.Task{{ID: "t-dup", Type: "p", Queue: "default", State: backend.StatePending,
		MaxAttempts: 1, CreatedAt: clock.Now(), UniqueKey: "u1"}})
	if err != nil || !res[0].Duplicate || res[0].ID != "t-pending" {
		t.Fatalf("enqueue under the old unique key: %+v, %v", res, err)
	}
	if _, err := b.Retry(ctx, "t-failed"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if _, err := b.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// Every task but the completed and the canceled one is pending now,
	// t-pending first (priority 5): lease them all and ack them.
	leased, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w2", Queues: []string{"default"}, Max: 10, LeaseFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 5 || leased[0].ID != "t-pending" {
		t.Fatalf("leased %d tasks, first %+v", len(leased), leased[0])
	}
	for _, task := range leased {
		if err := b.Ack(ctx, task.Ref(), json.RawMessage(`"done"`)); err != nil {
			t.Fatalf("ack %s: %v", task.ID, err)
		}
	}
	if err := b.Delete(ctx, "t-canceled"); err != nil {
		t.Fatal(err)
	}
	queues, err := b.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != 1 || queues[0].Counts[backend.StateCompleted] != 6 || queues[0].Counts[backend.StatePending] != 0 {
		t.Fatalf("queues: %+v", queues)
	}

	// Reopened, the records written anew read back too.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := embedded.Open(dir, embedded.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	p2, err := b2.Get(ctx, "t-pending")
	if err != nil {
		t.Fatal(err)
	}
	if p2.State != backend.StateCompleted || string(p2.Result) != `"done"` || string(p2.Payload) != `{"n":"t-pending"}` ||
		p2.TraceContext["traceparent"] != p.TraceContext["traceparent"] || len(p2.Attempts) != 1 || p2.Attempts[0].WorkerID != "w2" {
		t.Fatalf("t-pending after reopening: %+v", p2)
	}

	// A record written anew holds its position: the pos bucket keeps
	// only the position of the one task never written again.
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, embedded.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var kept []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("pos")).ForEach(func(k, _ []byte) error {
			kept = append(kept, string(k))
			return nil
		})
	})
	if err != nil || len(kept) != 1 || kept[0] != "t-completed" {
		t.Fatalf("pos bucket holds %q (%v), want only t-completed", kept, err)
	}
}
