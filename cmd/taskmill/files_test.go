package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskmill/taskmill/apiclient"
)

// TestCLIFiles: put, ls, get and rm against a real server, the file
// landing in <data>/files where the tasks read it.
func TestCLIFiles(t *testing.T) {
	data := t.TempDir()
	s := startCLIServer(t, "--data", data)
	local := filepath.Join(t.TempDir(), "photo.png")
	content := bytes.Repeat([]byte("png!"), 1000)
	if err := os.WriteFile(local, content, 0o644); err != nil {
		t.Fatal(err)
	}

	r := s.run(t, 0, "files", "put", local, "images/")
	if !strings.Contains(r.stdout, `"images/photo.png"`) {
		t.Fatalf("put: %q", r.stdout)
	}
	if got, err := os.ReadFile(filepath.Join(data, "files", "images", "photo.png")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the uploaded file in <data>/files: %v", err)
	}
	r = s.run(t, 0, "files", "ls")
	if !strings.Contains(r.stdout, "dir") || !strings.Contains(r.stdout, "images/") {
		t.Fatalf("ls: %q", r.stdout)
	}
	r = s.run(t, 0, "files", "ls", "images", "--json")
	var list apiclient.FileList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Entries) != 1 || list.Entries[0].Size != int64(len(content)) {
		t.Fatalf("ls --json: %q %v", r.stdout, err)
	}

	out := t.TempDir()
	s.run(t, 0, "files", "get", "images/photo.png", out)
	if got, _ := os.ReadFile(filepath.Join(out, "photo.png")); !bytes.Equal(got, content) {
		t.Fatal("get: the downloaded file differs")
	}
	r = s.run(t, 0, "files", "get", "images/photo.png", "-")
	if r.stdout != string(content) {
		t.Fatal("get -: stdout differs")
	}

	// Not found exits 3 and leaves no file; a path out of the folder is a
	// usage error (2); rm then ls shows it gone.
	s.run(t, 3, "files", "get", "images/nope.png", filepath.Join(out, "nope.png"))
	if _, err := os.Stat(filepath.Join(out, "nope.png")); err == nil {
		t.Fatal("a failed get left a file")
	}
	r = s.run(t, 2, "files", "put", local, "../escape.png")
	if !strings.Contains(r.stderr, "files folder") {
		t.Fatalf("put ../: %q", r.stderr)
	}
	s.run(t, 0, "files", "rm", "images/photo.png")
	s.run(t, 3, "files", "rm", "images/photo.png")
	r = s.run(t, 0, "files", "ls", "images")
	if strings.Contains(r.stdout, "photo.png") {
		t.Fatalf("ls after rm: %q", r.stdout)
	}
	cli(t, "files").want(t, 2)
	cli(t, "files", "mv").want(t, 2)
}

// TestServeSaysWhereDataLives: the first start says it created a store and
// where; every start logs both folders; GET /api/info shows them.
func TestServeSaysWhereDataLives(t *testing.T) {
	data := filepath.Join(t.TempDir(), "store")
	first := startCLIServer(t, "--data", data)
	client, err := apiclient.New(first.url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, err := client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.DataDir != data || info.FilesDir != filepath.Join(data, "files") || info.Backend != "embedded" ||
		info.Version == "" || info.Commit == "" || !strings.HasPrefix(info.GoVersion, "go") || info.Links == nil {
		t.Fatalf("info = %+v", info)
	}
	out := first.proc.Output()
	if !strings.Contains(out, "created a new store in "+data) || !strings.Contains(out, "files_dir="+filepath.Join(data, "files")) {
		t.Fatalf("first start's log:\n%s", out)
	}
	first.proc.Kill()
	second := startCLIServer(t, "--data", data)
	out = second.proc.Output()
	if strings.Contains(out, "created a new store") || !strings.Contains(out, "data_dir="+data) {
		t.Fatalf("second start's log:\n%s", out)
	}
}
