package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

// BenchmarkSubmitWithWatchers measures submit throughput over HTTP on
// the embedded backend with 0 and with 500 WebSocket clients watching
// every event. A watcher is idle: it parses each frame's header and
// drops the event, as cheaply as a client can, so that the number
// measures what the server pays for its watchers rather than what 500
// clients sharing its two cores pay to decode JSON (a dashboard does that
// in its own process). events/watcher/submit shows that every watcher got
// every event (1 per submit; less only when one fell behind and was sent
// a resync). Issue #11: 500 watchers cut submits from ~41k/s to 2.4k/s;
// the target is at least 70% of the throughput without watchers.
//
//	go test -run '^$' -bench BenchmarkSubmitWithWatchers -benchtime 20000x ./server
func BenchmarkSubmitWithWatchers(b *testing.B) {
	for _, watchers := range []int{0, 500} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			benchSubmit(b, watchers)
		})
	}
}

func benchSubmit(b *testing.B, watchers int) {
	be, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	srv, err := server.New(server.Config{Client: taskmill.NewClient(be, taskmill.ClientConfig{}), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer func() { srv.Close(); ts.Close() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var received atomic.Int64
	var wg sync.WaitGroup
	addr := strings.TrimPrefix(ts.URL, "http://")
	for range watchers {
		conn, br := dialRawEvents(b, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			context.AfterFunc(ctx, func() { conn.Close() })
			for {
				if err := skipFrame(br); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	body := []byte(`{"type":"bench","payload":{"n":1}}`)
	b.SetParallelism(16) // 16 × GOMAXPROCS submitters
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", ts.URL+"/api/tasks", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("submit = %d", resp.StatusCode)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "submits/s")
	if watchers > 0 {
		b.ReportMetric(float64(received.Load())/float64(watchers)/float64(b.N), "events/watcher/submit")
	}
	cancel()
	wg.Wait()
	tr.CloseIdleConnections()
}

// dialRawEvents opens /api/events with a hand-made handshake and returns
// the connection and a reader positioned at the first frame.
func dialRawEvents(b *testing.B, addr string) (net.Conn, *bufio.Reader) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		b.Fatalf("watcher: %v", err)
	}
	fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("watcher handshake: %v %v", err, resp)
	}
	return conn, br
}

// skipFrame reads one server frame (unmasked) and drops its payload.
func skipFrame(br *bufio.Reader) error {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	_, err := br.Discard(int(n))
	return err
}
