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
	const finText = 0x80 | 0x1
	at := len(c.headers)
	n := len(msg)
	switch {
	case n <= 125:
		c.headers = append(c.headers, finText, byte(n))
	case n <= 0xffff:
		c.headers = append(c.headers, finText, 126, byte(n>>8), byte(n))
	default:
		c.headers = append(c.headers, finText, 127)
		c.headers = binary.BigEndian.AppendUint64(c.headers, uint64(n))
	}
	// headers never grows past its capacity, so this slice stays valid.
	c.bufs = append(c.bufs, c.headers[at:len(c.headers):len(c.headers)], msg)
	c.size += len(c.headers) - at + n
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
	bufs := c.bufs // WriteTo consumes its receiver
	_, err := bufs.WriteTo(c.Conn)
	_ = c.Conn.SetWriteDeadline(time.Time{})
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
