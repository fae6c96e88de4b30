package embedded

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// testPos is a position: ready, priority 0, place 1.
var testPos = append([]byte{posReady}, readyKey(0, 1)...)

// recordTasks are tasks with every field of a record set, and none.
func recordTasks() []*backend.Task {
	at := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	return []*backend.Task{
		{ID: "0193a2b4-0000-7000-8000-000000000001", Type: "email", Queue: "default", State: backend.StatePending,
			MaxAttempts: 3, CreatedAt: at},
		{ID: "full", Type: "report", Queue: "q-é", Payload: json.RawMessage(`{"to":"a@example.com","n":[1,2]}`),
			Priority: -7, State: backend.StateRetrying, Attempt: 2, MaxAttempts: 25, LeaseLosses: 1,
			Timeout: backend.Duration(90 * time.Second), Deadline: at.Add(48 * time.Hour), UniqueKey: "k1",
			UniqueUntil: at.Add(time.Hour), RunAt: at.Add(time.Minute), CreatedAt: at, StartedAt: at.Add(time.Second),
			FinishedAt: at.Add(2 * time.Second), Result: json.RawMessage(`[true]`), LastError: "boom\nline 2",
			Attempts: []backend.Attempt{
				{Number: 1, WorkerID: "w1", StartedAt: at, FinishedAt: at.Add(time.Millisecond), Outcome: "lease_expired", Error: "gone"},
				{Number: 1, WorkerID: "w2", StartedAt: at.Add(time.Second), FinishedAt: at.Add(2 * time.Second), Outcome: "failed", Error: "boom"},
			},
			Progress:     &backend.Progress{Percent: 42.5, Message: "half", At: at.Add(1500 * time.Millisecond)},
			TraceContext: map[string]string{"traceparent": "00-abc-def-01", "tracestate": "x=1"}},
		{ID: "old", Type: "t", Queue: "q", State: backend.StateCompleted, MaxAttempts: 1,
			CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), FinishedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			Progress: &backend.Progress{}},
	}
}

// TestTaskRecordRoundTrip checks that a binary record and a JSON one (as
// older stores hold) both read back as the task written.
func TestTaskRecordRoundTrip(t *testing.T) {
	for _, want := range recordTasks() {
		v, err := encodeTask(nil, want, testPos)
		if err != nil {
			t.Fatal(err)
		}
		got, pos, err := decodeTaskAt(v)
		if err != nil {
			t.Fatalf("decode %s: %v", want.ID, err)
		}
		if !bytes.Equal(pos, testPos) {
			t.Errorf("position of %s read back as %q", want.ID, pos)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("binary record of %s read back as\n%+v\nwant\n%+v", want.ID, got, want)
		}
		j, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, pos, err = decodeTaskAt(j)
		if err != nil || pos != nil {
			t.Fatalf("decode JSON %s: position %q, %v", want.ID, pos, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("JSON record of %s read back as\n%+v\nwant\n%+v", want.ID, got, want)
		}
		for n := range v {
			if _, err := decodeTask(v[:n]); err == nil {
				t.Errorf("record of %s cut to %d bytes decoded", want.ID, n)
			}
		}
	}
}

func TestTaskRecordLeavesTheLeaseOut(t *testing.T) {
	task := recordTasks()[0]
	task.State, task.WorkerID, task.LeaseToken, task.LeaseSecret = backend.StateProcessing, "w", 9, "secret"
	task.LeaseExpiresAt = time.Now().UTC()
	v, err := encodeTask(nil, task, testPos)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v, []byte("secret")) {
		t.Fatalf("the record holds the lease secret: %q", v)
	}
	got, err := decodeTask(v)
	if err != nil {
		t.Fatal(err)
	}
	if got.WorkerID != "" || got.LeaseToken != 0 || got.LeaseSecret != "" || !got.LeaseExpiresAt.IsZero() {
		t.Fatalf("lease fields read back from a task record: %+v", got)
	}
}

func TestLeaseRecordRoundTrip(t *testing.T) {
	want := leaseRecord{WorkerID: "host-1/42", Token: 1 << 40, Secret: "00112233445566778899aabbccddeeff",
		ExpiresAt: time.Date(2026, 12, 7, 9, 30, 15, 999, time.UTC)}
	got, err := decodeLease(encodeLease(nil, want))
	if err != nil || got != want {
		t.Fatalf("binary lease record read back as %+v, %v", got, err)
	}
	j, _ := json.Marshal(want)
	got, err = decodeLease(j)
	if err != nil || got != want {
		t.Fatalf("JSON lease record read back as %+v, %v", got, err)
	}
}

// FuzzDecodeTask feeds decodeTask arbitrary records: it must not panic,
// and a record it accepts must survive being written and read again.
func FuzzDecodeTask(f *testing.F) {
	for _, task := range recordTasks() {
		v, err := encodeTask(nil, task, testPos)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
		j, _ := json.Marshal(task)
		f.Add(j)
	}
	f.Add([]byte{recordV1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		task, pos, err := decodeTaskAt(v)
		if err != nil {
			return
		}
		if pos == nil {
			pos = testPos // a JSON record
		}
		if _, ok := stateCode(task.State); !ok {
			return // a JSON record may name any state; encodeTask refuses it
		}
		task.WorkerID, task.LeaseToken, task.LeaseSecret, task.LeaseExpiresAt = "", 0, "", time.Time{}
		once, err := encodeTask(nil, task, pos)
		if err != nil {
			return // a payload or result that is not JSON: encodeTask refuses it
		}
		again, pos, err := decodeTaskAt(once)
		if err != nil {
			t.Fatalf("decode a record just written: %v (%q)", err, once)
		}
		twice, err := encodeTask(nil, again, pos)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("a task changed when written and read again:\n%q\n%q", once, twice)
		}
	})
}

// FuzzDecodeLease does the same for lease records.
func FuzzDecodeLease(f *testing.F) {
	l := leaseRecord{WorkerID: "w", Token: 7, Secret: "s", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	f.Add(encodeLease(nil, l))
	j, _ := json.Marshal(l)
	f.Add(j)
	f.Add([]byte{recordV1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		l, err := decodeLease(v)
		if err != nil {
			return
		}
		once := encodeLease(nil, l)
		again, err := decodeLease(once)
		if err != nil {
			t.Fatalf("decode a record just written: %v (%q)", err, once)
		}
		if twice := encodeLease(nil, again); !bytes.Equal(once, twice) {
			t.Fatalf("a lease changed when written and read again:\n%q\n%q", once, twice)
		}
	})
}

// TestRecordCompactsJSON: payloads and results read back as json.Marshal
// stored them in JSON records, compacted and HTML-escaped, and a value
// that is not JSON is refused.
func TestRecordCompactsJSON(t *testing.T) {
	for _, raw := range []string{`[1, 2]`, "{\n \"a\" : \"<b> & \u2028 x y\"\n}", `{"a":"b"}`, `"é"`, `null`} {
		task := recordTasks()[0]
		task.Payload, task.Result = json.RawMessage(raw), json.RawMessage(raw)
		want, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		v, err := encodeTask(nil, task, testPos)
		if err != nil {
			t.Fatalf("encode %q: %v", raw, err)
		}
		got, err := decodeTask(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Payload) != string(want) || string(got.Result) != string(want) {
			t.Errorf("%q read back as %q and %q, want %q", raw, got.Payload, got.Result, want)
		}
	}
	for _, bad := range []string{`{`, `[1,]`, `{"a" 1}`, "\"a\x00\""} {
		task := recordTasks()[0]
		task.Result = json.RawMessage(bad)
		if _, err := encodeTask(nil, task, testPos); err == nil {
			t.Errorf("encoded a result that is not JSON: %q", bad)
		}
	}
}
