package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestBatchConnFrames: a batch sent in one write holds each message as
// one final unmasked text frame, for every length encoding, in order,
// with the library's own writes (a pong) kept whole.
func TestBatchConnFrames(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	bc := &batchConn{Conn: server}
	msgs := [][]byte{[]byte("{}"), bytes.Repeat([]byte("a"), 125), bytes.Repeat([]byte("b"), 126), bytes.Repeat([]byte("c"), 70_000)}
	pong := []byte{0x8a, 0x00}
	got := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(client)
		got <- all
	}()
	bc.hold()
	for i, m := range msgs {
		if !bc.appendFrame(m) {
			t.Fatalf("message %d did not fit an empty batch", i)
		}
		if i == 1 {
			if _, err := bc.Write(pong); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := bc.send(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	server.Close()
	wire := <-got
	var frames [][]byte
	var opcodes []byte
	for len(wire) > 0 {
		if wire[0]&0x80 == 0 || wire[1]&0x80 != 0 {
			t.Fatalf("frame not final or masked: % x", wire[:2])
		}
		op, n, hdr := wire[0]&0x0f, int(wire[1]&0x7f), 2
		switch n {
		case 126:
			n, hdr = int(binary.BigEndian.Uint16(wire[2:4])), 4
		case 127:
			n, hdr = int(binary.BigEndian.Uint64(wire[2:10])), 10
		}
		opcodes = append(opcodes, op)
		frames = append(frames, wire[hdr:hdr+n])
		wire = wire[hdr+n:]
	}
	want := [][]byte{msgs[0], msgs[1], {}, msgs[2], msgs[3]}
	wantOps := []byte{1, 1, 0xa, 1, 1}
	if len(frames) != len(want) {
		t.Fatalf("%d frames, want %d", len(frames), len(want))
	}
	for i := range want {
		if opcodes[i] != wantOps[i] || !bytes.Equal(frames[i], want[i]) {
			t.Errorf("frame %d: opcode %x, %d bytes; want opcode %x, %d bytes", i, opcodes[i], len(frames[i]), wantOps[i], len(want[i]))
		}
	}
}

// TestBatchConnClearsDeadlineBeforeOwnWrite: a batch leaves its write
// deadline set, but a write outside a batch (a pong, a close frame) is
// not failed by it: the deadline of a batch that timed out is cleared
// first.
func TestBatchConnClearsDeadlineBeforeOwnWrite(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	bc := &batchConn{Conn: server}
	bc.hold()
	bc.appendFramed([][]byte{{0x81, 0x02, '{', '}'}})
	if err := bc.send(-time.Second); err == nil {
		t.Fatal("a batch sent past its deadline succeeded")
	}
	pong := []byte{0x8a, 0x00}
	got := make(chan []byte)
	go func() {
		buf := make([]byte, len(pong))
		_, _ = io.ReadFull(client, buf)
		got <- buf
	}()
	if _, err := bc.Write(pong); err != nil {
		t.Fatalf("write after a timed-out batch: %v", err)
	}
	if b := <-got; !bytes.Equal(b, pong) {
		t.Fatalf("read % x, want % x", b, pong)
	}
}

// TestNextBatchTime: every client that writes within one interval may
// write again at the same instant, the next multiple of the interval,
// which is later than now and at most an interval away.
func TestNextBatchTime(t *testing.T) {
	base := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		now      time.Time
		interval time.Duration
		want     time.Time
	}{
		{"on a multiple", base, 100 * time.Millisecond, base.Add(100 * time.Millisecond)},
		{"just after", base.Add(time.Nanosecond), 100 * time.Millisecond, base.Add(100 * time.Millisecond)},
		{"just before the next", base.Add(99 * time.Millisecond), 100 * time.Millisecond, base.Add(100 * time.Millisecond)},
		{"few clients", base.Add(1500 * time.Microsecond), 400 * time.Microsecond, base.Add(1600 * time.Microsecond)},
		{"no interval", base.Add(7), 0, base.Add(7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextBatchTime(tc.now, tc.interval); !got.Equal(tc.want) {
				t.Fatalf("nextBatchTime(%v, %v) = %v, want %v", tc.now, tc.interval, got, tc.want)
			}
		})
	}
}
