package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testpg"
)

// TestMigrateCommand: status lists every migration pending on a fresh
// database, up applies them, a second up has nothing to do, and status
// then shows them applied; serve --no-migrate on a schema that is behind
// refuses to start and says what to run.
func TestMigrateCommand(t *testing.T) {
	url := testpg.Start(t, testpg.Options{}).NewDatabase(t) + "&schema=tm_migrate"
	run := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var stdout, stderr strings.Builder
		code := Run(ctx, args, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := run("worker", "--no-migrate", "--backend", url, "--data", t.TempDir()); code == 0 ||
		!strings.Contains(out, "taskmill migrate up") {
		t.Fatalf("worker --no-migrate on an empty schema: exit %d:\n%s", code, out)
	}
	if code, out := run("migrate", "status", "--backend", url); code != 0 || !strings.Contains(out, "0001 tasks") ||
		!strings.Contains(out, "pending") || strings.Contains(out, "applied") {
		t.Fatalf("status before up: exit %d:\n%s", code, out)
	}
	if code, out := run("migrate", "up", "--backend", url); code != 0 || !strings.Contains(out, "applied 0001") ||
		!strings.Contains(out, "applied 0002") {
		t.Fatalf("up: exit %d:\n%s", code, out)
	}
	if code, out := run("migrate", "up", "--backend", url); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second up: exit %d:\n%s", code, out)
	}
	if code, out := run("migrate", "status", "--backend", url); code != 0 || strings.Contains(out, "pending") {
		t.Fatalf("status after up: exit %d:\n%s", code, out)
	}
	if code, out := run("migrate", "sideways", "--backend", url); code != exitUsage {
		t.Fatalf("migrate sideways: exit %d, want %d:\n%s", code, exitUsage, out)
	}
	if code, out := run("migrate", "up", "--backend", "redis://127.0.0.1:1/0"); code != exitUsage {
		t.Fatalf("migrate on Redis: exit %d, want %d:\n%s", code, exitUsage, out)
	}
}
