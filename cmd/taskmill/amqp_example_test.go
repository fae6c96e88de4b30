package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testrabbit"
)

// TestAMQPPythonExample runs examples/amqp/python/fib.py as docs/amqp.md
// tells a reader to: against serve --amqp on a private RabbitMQ node, it
// must print fib(35) = 9227465, received as the AMQP reply. Before serve
// has declared the queue, its mandatory publish must fail loudly instead
// of being confirmed and dropped.
func TestAMQPPythonExample(t *testing.T) {
	python := requirePika(t)
	rabbit := testrabbit.Start(t, testrabbit.Options{})
	script := "../../examples/amqp/python/fib.py"
	run := func(n string) (stdout, stderr string, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, script, n)
		cmd.Env = append(os.Environ(), "AMQP_URL="+rabbit.URL())
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		return out.String(), errOut.String(), err
	}

	// No taskmill yet: nothing has declared taskmill.submit.
	if out, errOut, err := run("10"); err == nil || !strings.Contains(errOut, "Unroutable") {
		t.Fatalf("with no queue declared: err %v, stdout %q, stderr %q; want the publish refused as unroutable", err, out, errOut)
	}

	_, base := startServe(t, "serve", t.TempDir(), "--workers", "2", "--amqp", rabbit.URL(), "--amqp-required")
	awaitReady(t, base, http.StatusOK)
	out, errOut, err := run("35")
	if err != nil || strings.TrimSpace(out) != "9227465" {
		t.Fatalf("fib.py 35: err %v, stdout %q, stderr %q; want 9227465", err, out, errOut)
	}
}

// requirePika returns Debian's python3 when it can import pika; without
// it the test skips loudly, or fails when CI is set (.ci/run installs
// python3-pika).
func requirePika(t *testing.T) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import pika").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import pika but CI is set: apt-get install python3-pika (%v)", python, err)
		}
		fmt.Fprintln(os.Stderr, "!! SKIPPING the Python AMQP example: python3-pika is not installed (apt-get install python3-pika)")
		t.Skip("python3-pika not installed")
	}
	return python
}
