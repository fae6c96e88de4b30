package testredis

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server and can cut them, as a
// network partition would: Cut closes every open connection and refuses
// new ones until Heal. It can also stall them: Stall holds every byte
// a client sends (commands are sent but do not reach the server) until
// Resume, as a server that stopped answering would. HoldReplies holds
// what the server sends back on the connections open at that moment
// (commands run, their replies do not arrive) until Resume, as a
// network that lost them would; connections opened later are not held.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cond    *sync.Cond // signaled when a stall ends
	cut     bool
	stalled bool
	held    int // bytes a stall holds
	conns   map[net.Conn]struct{}
	clients map[net.Conn]struct{} // the client side of each open connection
	hold    map[net.Conn]struct{} // clients whose replies are held
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{},
		clients: map[net.Conn]struct{}{}, hold: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
	})
	return p
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns a redis:// URL through the proxy.
func (p *Proxy) URL() string { return "redis://" + p.Addr() + "/0" }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.clients[c] = struct{}{}
		p.mu.Unlock()
		go p.downstream(c, up)
		go p.upstream(up, c)
	}
}

// forward copies src to dst. Before writing what it read it waits, with
// p.mu held, while held() says so; counted adds the bytes waiting to
// p.held (what Held reports for a stall).
func (p *Proxy) forward(dst, src net.Conn, counted bool, held func() bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if counted {
				p.held += n
			}
			for held() {
				p.cond.Wait()
			}
			if counted {
				p.held -= n
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.drop(dst, src)
}

// downstream forwards what the server sends to client dst, holding it
// while dst's replies are held.
func (p *Proxy) downstream(dst, src net.Conn) {
	p.forward(dst, src, false, func() bool { _, held := p.hold[dst]; return held })
}

// upstream forwards what a client sends, holding it while stalled.
func (p *Proxy) upstream(dst, src net.Conn) {
	p.forward(dst, src, true, func() bool { return p.stalled })
}

// drop closes both sides of a connection and forgets them.
func (p *Proxy) drop(a, b net.Conn) {
	a.Close()
	b.Close()
	p.mu.Lock()
	for _, c := range []net.Conn{a, b} {
		delete(p.conns, c)
		delete(p.clients, c)
		delete(p.hold, c)
	}
	p.mu.Unlock()
}

// HoldReplies holds what the server sends on the connections open now,
// until Resume or Cut.
func (p *Proxy) HoldReplies() {
	p.mu.Lock()
	for c := range p.clients {
		p.hold[c] = struct{}{}
	}
	p.mu.Unlock()
}

// Stall holds what clients send from now on, until Resume or Cut.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// Resume forwards what a stall or HoldReplies held, and what follows.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.stalled = false
	clear(p.hold)
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Held reports how many bytes a stall holds: more than zero once a
// command was sent that the server has not seen.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Cut drops every connection and refuses new ones; it ends a stall.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.stalled = false
	clear(p.hold)
	p.cond.Broadcast()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Heal accepts connections again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}
