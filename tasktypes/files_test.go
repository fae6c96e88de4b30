package tasktypes_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLargeFileCounts(t *testing.T) {
	dir := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir})
	// 50,000 × "one two three\nfour five\n" (24 bytes, 2 lines, 5 words),
	// then "naïve end" without a line feed: over a megabyte, so the read
	// crosses chunk boundaries.
	content := strings.Repeat("one two three\nfour five\n", 50_000) + "naïve end"
	writeFile(t, filepath.Join(dir, "logs", "big.log"), []byte(content))
	var r tasktypes.LargeFileResult
	task := mustRun(t, mux, "large_file_processing", map[string]any{"path": "logs/big.log"}, &r)
	sum := sha256.Sum256([]byte(content))
	if r.Bytes != 1_200_010 || r.Lines != 100_001 || r.Words != 250_002 || r.Characters != 1_200_009 ||
		r.InvalidUTF8 != 0 || r.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("result = %+v", r)
	}
	if p := task.LastProgress(); p == nil || p.Percent != 100 || !strings.Contains(p.Message, "100001 lines") {
		t.Errorf("progress = %+v", p)
	}
}

func TestLargeFileRefused(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir, MaxFileBytes: 100})
	writeFile(t, filepath.Join(dir, "big.bin"), make([]byte, 101))
	writeFile(t, filepath.Join(outside, "secret.txt"), []byte("secret"))
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, mux, "large_file_processing", []refusedCase{
		{"no path", `{}`, "payload.path"},
		{"absolute", `{"path":"/etc/passwd"}`, "payload.path"},
		{"dot-dot", `{"path":"../secret.txt"}`, "payload.path"},
		{"dot-dot inside", `{"path":"a/../../secret.txt"}`, "payload.path"},
		{"backslash dot-dot", `{"path":"a\\..\\..\\secret.txt"}`, "payload.path"},
		{"windows drive", `{"path":"C:\\secret.txt"}`, "payload.path"},
	})
	for name, want := range map[string]string{
		"big.bin":            "limit is 100",
		"link.txt":           "out of the files folder",
		"linkdir/secret.txt": "out of the files folder",
		"missing.txt":        "no such file in the files folder " + dir + " (upload it with taskmill files put",
		".":                  "not a regular file",
	} {
		_, err := runTask(t, mux, "large_file_processing", map[string]any{"path": name}, nil)
		if err == nil || !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v; want a failure without retry saying %q", name, err, want)
		}
		// The message is for people: no "skip retry" tacked on.
		if err != nil && strings.Contains(err.Error(), "skip retry") {
			t.Errorf("%s: err = %q ends in the marker", name, err)
		}
	}
}

// readTarGz lists an archive's entries: name → content ("" for a directory).
func readTarGz(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = string(b)
	}
}

func TestBackupArchivesDirectory(t *testing.T) {
	dir := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir})
	big := strings.Repeat("0123456789", 100)
	writeFile(t, filepath.Join(dir, "docs", "a.txt"), []byte("alpha"))
	writeFile(t, filepath.Join(dir, "docs", "sub", "b.txt"), []byte(big))
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "docs", "passwd")); err != nil {
		t.Fatal(err)
	}
	var r tasktypes.BackupResult
	task := mustRun(t, mux, "simulate_backup", map[string]any{"source": "docs"}, &r)
	// NewTask's id is "test".
	if r.Mode != "archive" || r.Archive != "backups/docs-test.tar.gz" || r.Files != 2 || r.Directories != 2 ||
		r.Skipped != 1 || r.Bytes != 1005 {
		t.Errorf("result = %+v", r)
	}
	archive := filepath.Join(dir, "backups", "docs-test.tar.gz")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); r.SHA256 != hex.EncodeToString(sum[:]) || r.ArchiveBytes != int64(len(data)) {
		t.Errorf("archive %d bytes, sha %x; result says %d, %s", len(data), sum, r.ArchiveBytes, r.SHA256)
	}
	entries := readTarGz(t, archive)
	want := map[string]string{"docs/": "", "docs/a.txt": "alpha", "docs/sub/": "", "docs/sub/b.txt": big}
	if len(entries) != len(want) {
		t.Errorf("entries = %v", entries)
	}
	for name, content := range want {
		if got, ok := entries[name]; !ok || got != content {
			t.Errorf("entry %s = %.20q (present %v)", name, got, ok)
		}
	}
	if p := task.LastProgress(); p == nil || p.Percent != 100 {
		t.Errorf("progress = %+v", p)
	}
	// An explicit destination; no partial file is left behind.
	mustRun(t, mux, "simulate_backup", map[string]any{"source": "docs/sub", "destination": "out/sub.tgz"}, &r)
	if got := readTarGz(t, filepath.Join(dir, "out", "sub.tgz")); got["sub/b.txt"] != big {
		t.Errorf("sub archive = %v", got)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", "*.partial-*"))
	if len(leftovers) > 0 {
		t.Errorf("partial files left: %v", leftovers)
	}
}

func TestBackupDurationAndCancel(t *testing.T) {
	dir := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir})
	var r tasktypes.BackupResult
	task := mustRun(t, mux, "simulate_backup", map[string]any{"duration_ms": 150}, &r)
	if r.Mode != "duration" || r.DurationMS != 150 {
		t.Errorf("result = %+v", r)
	}
	if p := task.LastProgress(); p == nil || p.Percent <= 0 {
		t.Errorf("progress = %+v", p)
	}
	// A canceled archive run leaves neither the archive nor a partial
	// file: canceled before it starts, and canceled while it writes.
	writeFile(t, filepath.Join(dir, "data", "x.bin"), make([]byte, 1<<20))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := runTaskCtx(ctx, t, mux, "simulate_backup", map[string]any{"source": "data"}, nil); err == nil {
		t.Fatal("a canceled backup succeeded")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "backups", "*")); len(matches) > 0 {
		t.Errorf("files left after cancel: %v", matches)
	}
	mid := &cancelWhenCtx{when: func() bool {
		partial, _ := filepath.Glob(filepath.Join(dir, "backups", "*.partial-*"))
		return len(partial) > 0
	}}
	mid.Context, mid.cancel = context.WithCancel(context.Background())
	defer mid.cancel()
	_, err := runTaskCtx(mid, t, mux, "simulate_backup", map[string]any{"source": "data"}, nil)
	if !mid.fired {
		t.Fatalf("the partial archive never appeared (err %v)", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a backup canceled while writing: err = %v, want context.Canceled", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "backups", "*")); len(matches) > 0 {
		t.Errorf("files left after a cancel while writing: %v", matches)
	}
}

// cancelWhenCtx is a context that cancels itself the first time its Err
// is asked for once when() holds: a task that checks ctx.Err() between
// steps sees the cancel at the first check after the condition is met.
type cancelWhenCtx struct {
	context.Context
	cancel context.CancelFunc
	when   func() bool
	fired  bool
}

func (c *cancelWhenCtx) Err() error {
	if !c.fired && c.when() {
		c.fired = true
		c.cancel()
	}
	return c.Context.Err()
}

func TestBackupRefused(t *testing.T) {
	dir := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir, MaxBackupBytes: 100, MaxSleepMS: 1000})
	writeFile(t, filepath.Join(dir, "big", "f"), make([]byte, 101))
	writeFile(t, filepath.Join(dir, "file.txt"), []byte("x"))
	checkRefused(t, mux, "simulate_backup", []refusedCase{
		{"nothing", `{}`, "payload.source"},
		{"both", `{"source":"a","duration_ms":5}`, "payload.duration_ms"},
		{"duration too long", `{"duration_ms":1001}`, "payload.duration_ms"},
		{"escaping source", `{"source":"../"}`, "payload.source"},
		{"absolute source", `{"source":"/home"}`, "payload.source"},
		{"escaping destination", `{"source":"a","destination":"../a.tar.gz"}`, "payload.destination"},
		{"destination not .tar.gz", `{"source":"a","destination":"a.zip"}`, "payload.destination"},
	})
	for src, want := range map[string]string{"big": "more than 100 bytes", "file.txt": "not a directory", "nope": "no such file"} {
		_, err := runTask(t, mux, "simulate_backup", map[string]any{"source": src}, nil)
		if err == nil || !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v; want a failure without retry saying %q", src, err, want)
		}
	}
}

// TestNamedPipeRefused: a FIFO in the data directory is refused without
// being opened (opening it would block until a writer came).
func TestNamedPipeRefused(t *testing.T) {
	dir := t.TempDir()
	if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	mux := testMux(t, tasktypes.Config{DataDir: dir})
	for _, typ := range []string{"large_file_processing", "image_resize"} {
		p := map[string]any{"path": "pipe"}
		if typ == "image_resize" {
			p["width"] = 5
		}
		_, err := runTask(t, mux, typ, p, nil)
		if err == nil || !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s on a FIFO: %v", typ, err)
		}
	}
}
