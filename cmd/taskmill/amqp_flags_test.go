package main

import (
	"os"
	"strings"
	"testing"
)

// TestAMQPFlags: bad AMQP settings exit 2 naming the flag, before the
// store is opened, and never echo the password.
func TestAMQPFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--amqp-prefetch", "0"}, "--amqp-prefetch"},
		{[]string{"serve", "--amqp", "http://user:hunter2@host/"}, "--amqp"},
		{[]string{"amqp", "--amqp-prefetch", "70000", "--amqp", "amqp://h/"}, "--amqp-prefetch"},
		{[]string{"amqp"}, "--amqp"},
	} {
		data := t.TempDir()
		r := cli(t, append(c.args, "--data", data)...).want(t, 2, c.args...)
		if !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "hunter2") {
			t.Errorf("%v: stderr %q should name %s and hide the password", c.args, r.stderr, c.want)
		}
		if entries, _ := os.ReadDir(data); len(entries) > 0 {
			t.Errorf("%v opened the store before refusing: %v", c.args, entries)
		}
	}
	t.Setenv("TASKMILL_AMQP", "amqps://u:p@broker:5671/v")
	t.Setenv("TASKMILL_AMQP_QUEUE", "jobs")
	t.Setenv("TASKMILL_AMQP_REQUIRED", "1")
	c, err := parseServeFlags(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.amqp.url != "amqps://u:p@broker:5671/v" || c.amqp.queue != "jobs" || !c.amqp.required || c.amqp.prefetch != 64 {
		t.Errorf("amqp flags from the env: %+v", *c.amqp)
	}
}
