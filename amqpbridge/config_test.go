package amqpbridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

func TestNewRefusesBadConfig(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	cases := []struct {
		name string
		cfg  amqpbridge.Config
		want string
	}{
		{"no client", amqpbridge.Config{URL: "amqp://localhost/"}, "Client is required"},
		{"not amqp", amqpbridge.Config{URL: "http://u:hunter2@localhost/", Client: client}, "URL"},
		{"queue too long", amqpbridge.Config{URL: "amqp://localhost/", Client: client, Queue: strings.Repeat("q", 256)}, "255"},
		{"prefetch too big", amqpbridge.Config{URL: "amqp://localhost/", Client: client, Prefetch: 70000}, "prefetch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := amqpbridge.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error about %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestLinkStatusHidesPassword: a broker that cannot be reached is reported
// down with the reason, and the password is not in it.
func TestLinkStatusHidesPassword(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Port 1 on loopback: nothing listens, the dial is refused at once.
	br, err := amqpbridge.New(amqpbridge.Config{URL: "amqp://user:hunter2@127.0.0.1:1/", Client: taskmill.NewClient(b, taskmill.ClientConfig{}),
		Logger: quiet(), Required: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := br.LinkStatus(); st.State != server.LinkConnecting || !st.Required || st.Name != "amqp" {
		t.Fatalf("before Run: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = br.Run(ctx)
	}()
	awaitf(t, 30*time.Second, func() bool { return br.LinkStatus().State == server.LinkDown }, "the link to be reported down")
	st := br.LinkStatus()
	if strings.Contains(st.Detail, "hunter2") || !strings.Contains(st.Detail, "xxxxx") || st.Since.IsZero() {
		t.Fatalf("link status %+v", st)
	}
	cancel()
	<-done
	if st := br.LinkStatus(); st.State != server.LinkDown || st.Detail != "stopped" {
		t.Fatalf("after Run: %+v", st)
	}
}
