package server

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"time"
)

// Writing events in batches. The WebSocket library flushes every message
// to the connection at once, through its own framing path: one write
// system call and some bookkeeping per event per watcher, which with 500
// watchers cost far more than the submits that made the events. The
// event stream hands the library a connection whose writes can be held
// (batchConn), and frames the hub's shared bytes itself: a writer loop
// appends every event already waiting for its client and sends them in
// one system call. The messages stay one event each on the wire.

// maxBatchBytes bounds the events held for one write (one larger event
// goes alone).
const maxBatchBytes = 256 << 10

// batchConn is a net.Conn whose writes are held between hold and send.
// Writes outside a batch (the library's pongs and close frames) go
// straight through. A batch is a list of buffers sent with one writev:
// the event bytes the hub shares among its clients are not copied.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	bufs    net.Buffers
	headers []byte // the frame headers of the batch, 2–10 bytes each
	size    int
	// deadline says whether the last batch's write deadline is still
	// set: it is cleared only before a write outside a batch (rare),
	// not after every batch, which cost a timer update per write.
	deadline bool
}

// maxHeaderBytes bounds the headers one batch holds (10 bytes a frame).
const maxHeaderBytes = 16 << 10

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding {
		// The library reuses its buffer: keep a copy.
		c.bufs = append(c.bufs, append([]byte(nil), p...))
		c.size += len(p)
		return len(p), nil
	}
	if c.deadline {
		_ = c.Conn.SetWriteDeadline(time.Time{})
		c.deadline = false
	}
	return c.Conn.Write(p)
}

// appendFrames adds msgs to the batch, each as one final, unmasked text
// frame (RFC 6455 section 5.2), in order, until the batch is full. It
// returns how many it added: send the batch, then add the rest. An empty
// batch always takes the first.
func (c *batchConn) appendFrames(msgs [][]byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, msg := range msgs {
		if len(c.headers)+10 > cap(c.headers) || c.size+len(msg) > maxBatchBytes && c.size > 0 {
			return i
		}
		c.appendFrameLocked(msg)
	}
	return len(msgs)
}

// appendFrame adds msg to the batch as one frame; it reports false,
// adding nothing, when the batch is full.
func (c *batchConn) appendFrame(msg []byte) bool {
	return c.appendFrames([][]byte{msg}) == 1
}

// appendFrameLocked adds msg as one frame, which fits. c.mu is held.
func (c *batchConn) appendFrameLocked(msg []byte) {
	at := len(c.headers)
	c.headers = appendFrameHeader(c.headers, len(msg))
	// headers never grows past its capacity, so this slice stays valid.
	c.bufs = append(c.bufs, c.headers[at:len(c.headers):len(c.headers)], msg)
	c.size += len(c.headers) - at + len(msg)
}

// appendFramed adds bytes that are already whole frames to the batch.
func (c *batchConn) appendFramed(runs [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range runs {
		c.bufs = append(c.bufs, r)
		c.size += len(r)
	}
}

// appendFrameHeader appends the header of a final, unmasked text frame
// of n bytes (RFC 6455 section 5.2): 2, 4 or 10 bytes.
func appendFrameHeader(dst []byte, n int) []byte {
	const finText = 0x80 | 0x1
	switch {
	case n <= 125:
		return append(dst, finText, byte(n))
	case n <= 0xffff:
		return append(dst, finText, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, finText, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// framePayloads splits whole unmasked frames into their payloads.
func framePayloads(run []byte) [][]byte {
	var out [][]byte
	for len(run) >= 2 {
		n, hdr := int(run[1]&0x7f), 2
		switch n {
		case 126:
			n, hdr = int(binary.BigEndian.Uint16(run[2:4])), 4
		case 127:
			n, hdr = int(binary.BigEndian.Uint64(run[2:10])), 10
		}
		out = append(out, run[hdr:hdr+n])
		run = run[hdr+n:]
	}
	return out
}

// hold starts a batch.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.holding = true
	if c.headers == nil {
		c.headers = make([]byte, 0, maxHeaderBytes)
	}
	c.mu.Unlock()
}

// send ends a batch, writing what it holds within timeout.
func (c *batchConn) send(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.bufs) == 0 {
		return nil
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	c.deadline = true
	bufs := c.bufs // WriteTo consumes its receiver
	_, err := bufs.WriteTo(c.Conn)
	clear(c.bufs) // drop the references to the events
	c.bufs, c.headers, c.size = c.bufs[:0], c.headers[:0], 0
	return err
}

// batchingWriter gives the WebSocket library a batchConn when it takes
// the connection over.
type batchingWriter struct {
	http.ResponseWriter
	conn *batchConn
}

func (w *batchingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: c}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, 4096)), nil
}

func (w *batchingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
