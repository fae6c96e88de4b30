package embedded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Task and lease records are stored in a compact binary form: encoding
// JSON and decoding it was a quarter of the CPU of a lease and an ack.
// Stores written before it hold JSON records, which begin with '{'; a
// binary record begins with its version byte instead, so both kinds are
// read, and a JSON record becomes binary the next time it is written.
//
// Version 1 of a task record, field after field (uvarint: unsigned
// varint; varint: zigzag varint; string and bytes: uvarint length, then
// the bytes; time: varint seconds since year 1 and uvarint nanoseconds,
// 0 and 0 for the zero time, always UTC):
//
//	1 (version)
//	position: bytes, never empty: the kind of index holding the task
//	  and its key there (readTask; a processing task: the kind alone)
//	id, type, queue: string
//	payload: bytes (empty for none; compact JSON, see appendJSON)
//	priority: varint
//	state: byte (stateCodes)
//	attempt, max attempts, lease losses: varint
//	timeout: varint nanoseconds
//	deadline: time; unique key: string; unique until: time
//	run at, created at, started at, finished at: time
//	result: bytes; last error: string
//	attempts: uvarint count, then each: number varint, worker id
//	  string, started at time, finished at time, outcome string, error string
//	progress: byte 0 (none) or 1, then percent (8 bytes, IEEE 754 big
//	  endian), message string, at time
//	trace context: uvarint count, then key and value strings, keys sorted
//
// The lease fields are never in a task record: they are the lease
// record's, version 1 of which is 1, worker id string, token uvarint,
// secret string, expires at time.
const recordV1 byte = 1

// stateCodes are the states' bytes in a version 1 task record; the codes
// never change.
var stateCodes = [...]backend.State{1: backend.StatePending, 2: backend.StateScheduled, 3: backend.StateProcessing,
	4: backend.StateRetrying, 5: backend.StateCompleted, 6: backend.StateFailed, 7: backend.StateCanceled}

func stateCode(s backend.State) (byte, bool) {
	for i, c := range stateCodes {
		if i > 0 && c == s {
			return byte(i), true
		}
	}
	return 0, false
}

// zeroUnix is time.Time{}.Unix(): times are stored as seconds since year 1,
// so the zero time is two zero bytes.
const zeroUnix = -62135596800

// encodeTask appends t's record, without its lease, to buf. pos is where
// the task's indexes hold it (readTask).
func encodeTask(buf []byte, t *backend.Task, pos []byte) ([]byte, error) {
	state, ok := stateCode(t.State)
	if !ok {
		return nil, fmt.Errorf("encode task %s: unknown state %q", t.ID, t.State)
	}
	buf = append(buf, recordV1)
	buf = appendBytes(buf, pos)
	buf = appendString(buf, t.ID)
	buf = appendString(buf, t.Type)
	buf = appendString(buf, t.Queue)
	buf, err := appendJSON(buf, t.Payload)
	if err != nil {
		return nil, fmt.Errorf("encode task %s: payload: %w", t.ID, err)
	}
	buf = binary.AppendVarint(buf, int64(t.Priority))
	buf = append(buf, state)
	buf = binary.AppendVarint(buf, int64(t.Attempt))
	buf = binary.AppendVarint(buf, int64(t.MaxAttempts))
	buf = binary.AppendVarint(buf, int64(t.LeaseLosses))
	buf = binary.AppendVarint(buf, int64(t.Timeout))
	buf = appendTime(buf, t.Deadline)
	buf = appendString(buf, t.UniqueKey)
	buf = appendTime(buf, t.UniqueUntil)
	buf = appendTime(buf, t.RunAt)
	buf = appendTime(buf, t.CreatedAt)
	buf = appendTime(buf, t.StartedAt)
	buf = appendTime(buf, t.FinishedAt)
	if buf, err = appendJSON(buf, t.Result); err != nil {
		return nil, fmt.Errorf("encode task %s: result: %w", t.ID, err)
	}
	buf = appendString(buf, t.LastError)
	buf = binary.AppendUvarint(buf, uint64(len(t.Attempts)))
	for _, a := range t.Attempts {
		buf = binary.AppendVarint(buf, int64(a.Number))
		buf = appendString(buf, a.WorkerID)
		buf = appendTime(buf, a.StartedAt)
		buf = appendTime(buf, a.FinishedAt)
		buf = appendString(buf, a.Outcome)
		buf = appendString(buf, a.Error)
	}
	if p := t.Progress; p != nil {
		buf = append(buf, 1)
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(p.Percent))
		buf = appendString(buf, p.Message)
		buf = appendTime(buf, p.At)
	} else {
		buf = append(buf, 0)
	}
	buf = binary.AppendUvarint(buf, uint64(len(t.TraceContext)))
	if len(t.TraceContext) > 0 {
		keys := make([]string, 0, len(t.TraceContext))
		for k := range t.TraceContext {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			buf = appendString(buf, k)
			buf = appendString(buf, t.TraceContext[k])
		}
	}
	return buf, nil
}

// decodeTask reads a task record, binary or (from older stores) JSON.
// It copies what it keeps: v may be bbolt's memory, valid only in its
// transaction.
func decodeTask(v []byte) (*backend.Task, error) {
	t, _, err := decodeTaskAt(v)
	return t, err
}

// decodeTaskAt is decodeTask that also returns the record's position,
// nil for a JSON record (whose position is in the pos bucket).
func decodeTaskAt(v []byte) (*backend.Task, []byte, error) {
	t := new(backend.Task)
	if len(v) > 0 && v[0] == '{' {
		if err := json.Unmarshal(v, t); err != nil {
			return nil, nil, err
		}
		return t, nil, nil
	}
	r := recordReader{buf: v}
	if r.byte() != recordV1 {
		return nil, nil, errBadRecord
	}
	pos := r.raw()
	if len(pos) == 0 {
		r.fail() // a binary record always has a position
	}
	pos = append([]byte(nil), pos...)
	t.ID = r.string()
	t.Type = r.string()
	t.Queue = r.string()
	t.Payload = r.bytes()
	t.Priority = r.int()
	if c := r.byte(); int(c) < len(stateCodes) && c > 0 {
		t.State = stateCodes[c]
	} else {
		r.fail()
	}
	t.Attempt = r.int()
	t.MaxAttempts = r.int()
	t.LeaseLosses = r.int()
	t.Timeout = backend.Duration(r.varint())
	t.Deadline = r.time()
	t.UniqueKey = r.string()
	t.UniqueUntil = r.time()
	t.RunAt = r.time()
	t.CreatedAt = r.time()
	t.StartedAt = r.time()
	t.FinishedAt = r.time()
	t.Result = r.bytes()
	t.LastError = r.string()
	if n := r.count(); n > 0 {
		t.Attempts = make([]backend.Attempt, n)
		for i := range t.Attempts {
			a := &t.Attempts[i]
			a.Number = r.int()
			a.WorkerID = r.string()
			a.StartedAt = r.time()
			a.FinishedAt = r.time()
			a.Outcome = r.string()
			a.Error = r.string()
		}
	}
	switch r.byte() {
	case 0:
	case 1:
		p := &backend.Progress{Percent: math.Float64frombits(r.uint64())}
		p.Message = r.string()
		p.At = r.time()
		t.Progress = p
	default:
		r.fail()
	}
	if n := r.count(); n > 0 {
		t.TraceContext = make(map[string]string, n)
		for range n {
			k := r.string()
			t.TraceContext[k] = r.string()
		}
	}
	if err := r.done(); err != nil {
		return nil, nil, err
	}
	return t, pos, nil
}

// encodeLease appends a lease record to buf.
func encodeLease(buf []byte, l leaseRecord) []byte {
	buf = append(buf, recordV1)
	buf = appendString(buf, l.WorkerID)
	buf = binary.AppendUvarint(buf, l.Token)
	buf = appendString(buf, l.Secret)
	return appendTime(buf, l.ExpiresAt)
}

// decodeLease reads a lease record, binary or (from older stores) JSON.
func decodeLease(v []byte) (leaseRecord, error) {
	var l leaseRecord
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &l)
		return l, err
	}
	r := recordReader{buf: v}
	if r.byte() != recordV1 {
		return leaseRecord{}, errBadRecord
	}
	l.WorkerID = r.string()
	l.Token = r.uvarint()
	l.Secret = r.string()
	l.ExpiresAt = r.time()
	if err := r.done(); err != nil {
		return leaseRecord{}, err
	}
	return l, nil
}

var errBadRecord = errors.New("malformed record")

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// appendJSON appends raw JSON as bytes, compacted and with <, >, & and
// U+2028/U+2029 escaped, as json.Marshal stored it when records were
// JSON: what a store gives back does not depend on how it stores it.
// Most values need no change, and are only checked.
func appendJSON(buf, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return append(buf, 0), nil
	}
	if !needsCompact(raw) {
		if !json.Valid(raw) {
			return nil, errors.New("not valid JSON")
		}
		return appendBytes(buf, raw), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	return appendBytes(buf, escaped.Bytes()), nil
}

// needsCompact reports whether raw holds a byte that json.Marshal would
// remove or escape: white space, <, >, &, or 0xE2 (the first byte of
// U+2028 and U+2029, and of other runes: a false alarm only costs time).
func needsCompact(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xE2:
			return true
		}
	}
	return false
}

func appendTime(buf []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(buf, 0, 0)
	}
	buf = binary.AppendVarint(buf, t.Unix()-zeroUnix)
	return binary.AppendUvarint(buf, uint64(t.Nanosecond()))
}

// recordReader reads a binary record. The first malformation sticks:
// every later read returns a zero value, and done reports it.
type recordReader struct {
	buf []byte
	bad bool
}

func (r *recordReader) fail() { r.bad, r.buf = true, nil }

func (r *recordReader) done() error {
	if r.bad || len(r.buf) != 0 {
		return errBadRecord
	}
	return nil
}

func (r *recordReader) byte() byte {
	if len(r.buf) == 0 {
		r.fail()
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

func (r *recordReader) uint64() uint64 {
	if len(r.buf) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.buf)
	r.buf = r.buf[8:]
	return v
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// int reads a varint that must fit an int.
func (r *recordReader) int() int {
	v := r.varint()
	if int64(int(v)) != v {
		r.fail()
		return 0
	}
	return int(v)
}

// count reads how many entries follow; each takes at least two bytes,
// so a count the rest of the record cannot hold is malformed (and is
// never allocated).
func (r *recordReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.buf)/2) {
		r.fail()
		return 0
	}
	return int(n)
}

// raw reads a length and that many bytes, still in r's buffer.
func (r *recordReader) raw() []byte {
	n := r.uvarint()
	if n > uint64(len(r.buf)) {
		r.fail()
		return nil
	}
	b := r.buf[:n]
	r.buf = r.buf[n:]
	return b
}

func (r *recordReader) string() string { return string(r.raw()) }

// bytes reads a length-prefixed byte string as a copy, nil when empty.
func (r *recordReader) bytes() []byte {
	b := r.raw()
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *recordReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 || sec < math.MinInt64-zeroUnix {
		r.fail()
		return time.Time{}
	}
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec+zeroUnix, int64(nsec)).UTC()
}

// recordSize is a guess at the size of t's record, large enough in most
// cases for encodeTask to allocate once.
func recordSize(t *backend.Task) int {
	n := 96 + len(t.ID) + len(t.Type) + len(t.Queue) + len(t.Payload) + len(t.UniqueKey) + len(t.Result) + len(t.LastError)
	for _, a := range t.Attempts {
		n += 32 + len(a.WorkerID) + len(a.Outcome) + len(a.Error)
	}
	return n
}
