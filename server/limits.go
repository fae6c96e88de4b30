package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Slow and stalled peers. Every connection holds a file descriptor and a
// goroutine, so a peer that opens many and then sends nothing, or sends
// a body one byte at a time, could exhaust them and starve every other
// client. Each phase of a request is bounded in time, and the number of
// connections is bounded too:
//
//   - headers: ReadHeaderTimeout (10 s) from the first byte;
//   - a body: Config.BodyReadTimeout (30 s) from the start of the
//     handler, set per request through http.ResponseController and
//     lifted as soon as the body has been read, so the long-poll lease and
//     the WebSocket (whose deadlines net/http clears when it hands the
//     connection over) are not cut off;
//   - between requests on a kept-alive connection: IdleTimeout (60 s);
//   - connections at once: LimitListener; the ones over the limit wait in
//     the kernel's accept queue until a slot frees.

// Time bounds of the HTTP server HTTPServer returns.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 60 * time.Second
)

// HTTPServer returns an http.Server for h with the header and idle
// timeouts above. Serve it on a LimitListener.
func HTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// bodyDeadline bounds the time to read r's body: the connection's read
// deadline is set now+d and lifted once the body is read to its end (or
// fails). A request without a body sets nothing: net/http reads no more
// from the connection until the answer is written.
func bodyDeadline(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if d <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return // not a net/http connection (a test recorder): nothing to bound
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
}

// deadlineBody lifts the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	once sync.Once
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// The rest of the connection belongs to the next request (or
		// the idle timeout). On any other error the deadline stays:
		// net/http may still try to drain the body before answering,
		// and that must not wait on the slow peer either.
		b.once.Do(b.lift)
	}
	return n, err
}

// isTimeout reports whether err is a network timeout: a body that did not
// arrive in time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DefaultMaxConns is the connection limit derived from the process's
// file descriptor limit: three quarters of it (the rest for the backend,
// files and the worker slots), at most 4096 and at least 64.
func DefaultMaxConns() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1024
	}
	n := lim.Cur / 4 * 3
	return int(max(64, min(n, 4096)))
}

// LimitListener returns a listener that holds at most n accepted
// connections open at once. When n are open, Accept waits for one to
// close: new peers wait in the kernel's accept queue instead of taking
// the descriptors the process needs for its backend and files. The
// server's timeouts bound how long any one connection keeps its slot.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
