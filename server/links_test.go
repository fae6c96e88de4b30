package server_test

import (
	"sync"
	"testing"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

// switchLink is a LinkReporter whose state the test sets.
type switchLink struct {
	mu sync.Mutex
	st server.LinkStatus
}

func (l *switchLink) LinkStatus() server.LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *switchLink) set(state string) {
	l.mu.Lock()
	l.st.State = state
	l.mu.Unlock()
}

// TestReadyzFollowsRequiredLinks: /readyz is 503 link_unavailable while a
// required link is not up, and ignores links that are not required.
func TestReadyzFollowsRequiredLinks(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	required := &switchLink{st: server.LinkStatus{Name: "amqp", State: server.LinkConnecting, Required: true}}
	optional := &switchLink{st: server.LinkStatus{Name: "other", State: server.LinkDown}}
	e := newEnv(t, b, withoutWorker(), withConfig(func(c *server.Config) { c.Links = []server.LinkReporter{optional, required} }))
	for _, c := range []struct {
		state string
		want  int
	}{{server.LinkConnecting, 503}, {server.LinkDown, 503}, {server.LinkUp, 200}} {
		required.set(c.state)
		var eb apiclient.ErrorBody
		status, _ := e.do("GET", "/readyz", nil, &eb)
		if status != c.want {
			t.Fatalf("required link %s: /readyz = %d, want %d", c.state, status, c.want)
		}
		if status == 503 && (eb.Error == nil || eb.Error.Code != "link_unavailable" || eb.Error.Field != "amqp") {
			t.Fatalf("required link %s: error %+v", c.state, eb.Error)
		}
	}
}
