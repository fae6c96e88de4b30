package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/server"
)

// fileReq sends a raw (non-JSON) request through the validating client.
func (e *env) fileReq(token, method, path string, body io.Reader) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

func (e *env) wantFileReq(want int, token, method, path string, body io.Reader) (http.Header, []byte) {
	e.t.Helper()
	status, h, raw := e.fileReq(token, method, path, body)
	if status != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, status, want, raw)
	}
	return h, raw
}

func wantErrorCode(t *testing.T, raw []byte, code, field string) {
	t.Helper()
	var eb apiclient.ErrorBody
	if err := json.Unmarshal(raw, &eb); err != nil || eb.Error == nil || eb.Error.Code != code || eb.Error.Field != field || eb.Error.Message == "" {
		t.Fatalf("error %s, want code %q field %q", raw, code, field)
	}
}

var pngBytes = []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("x", 100))

func TestFilesUploadListDownloadDelete(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, backendKinds[0].open(t), withoutWorker(), withConfig(func(c *server.Config) { c.FilesDir = dir }))

	// Upload creates the folders and answers the stored file.
	_, raw := e.wantFileReq(201, "", "PUT", "/api/files/images/photo%20one.png", bytes.NewReader(pngBytes))
	var fe apiclient.FileEntry
	mustJSON(t, raw, &fe)
	if fe.Path != "images/photo one.png" || fe.Size != int64(len(pngBytes)) || fe.Type != "file" {
		t.Fatalf("upload answered %+v", fe)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "images", "photo one.png")); err != nil || !bytes.Equal(got, pngBytes) {
		t.Fatalf("the file on disk: %q %v", got, err)
	}
	e.wantFileReq(201, "", "PUT", "/api/files/notes.txt", strings.NewReader("hello"))
	e.wantFileReq(201, "", "PUT", "/api/files/page.html", strings.NewReader("<script>alert(1)</script>"))

	// The top lists the folder first, then the files, with sizes.
	var list apiclient.FileList
	e.wantStatus(200, "GET", "/api/files", nil, &list)
	var names []string
	for _, f := range list.Entries {
		names = append(names, f.Name+":"+f.Type)
	}
	if strings.Join(names, ",") != "images:dir,notes.txt:file,page.html:file" || list.Truncated {
		t.Fatalf("list = %v (truncated %v)", names, list.Truncated)
	}
	e.wantStatus(200, "GET", "/api/files?path=images", nil, &list)
	if len(list.Entries) != 1 || list.Entries[0].Path != "images/photo one.png" || list.Entries[0].Size != int64(len(pngBytes)) ||
		time.Since(list.Entries[0].Modified) > time.Hour {
		t.Fatalf("list images = %+v", list)
	}

	// Download: the bytes, the type from the extension, never sniffed.
	h, body := e.wantFileReq(200, "", "GET", "/api/files/images/photo%20one.png", nil)
	if !bytes.Equal(body, pngBytes) || h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Content-Disposition") != `attachment; filename="photo one.png"` {
		t.Fatalf("download: %q %v", body[:8], h)
	}
	h, _ = e.wantFileReq(200, "", "GET", "/api/files/images/photo%20one.png?inline=true", nil)
	if h.Get("Content-Disposition") != `inline; filename="photo one.png"` {
		t.Fatalf("inline download: %v", h)
	}
	// HTML is never served as HTML, not even inline.
	h, _ = e.wantFileReq(200, "", "GET", "/api/files/page.html?inline=true", nil)
	if h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("html download: %v", h)
	}

	// Replacing a file; a file where a folder must be; a folder where a
	// file must be.
	e.wantFileReq(201, "", "PUT", "/api/files/notes.txt", strings.NewReader("hello again"))
	if got, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(got) != "hello again" {
		t.Fatalf("replaced file holds %q", got)
	}
	_, raw = e.wantFileReq(409, "", "PUT", "/api/files/notes.txt/inner.txt", strings.NewReader("x"))
	wantErrorCode(t, raw, "file_conflict", "path")
	_, raw = e.wantFileReq(409, "", "PUT", "/api/files/images", strings.NewReader("x"))
	wantErrorCode(t, raw, "file_conflict", "path")
	_, raw = e.wantFileReq(409, "", "DELETE", "/api/files/images", nil)
	wantErrorCode(t, raw, "file_conflict", "path")
	_, raw = e.wantFileReq(400, "", "GET", "/api/files/images", nil)
	wantErrorCode(t, raw, "invalid_type", "path")
	e.wantError(400, "invalid_type", "path", "GET", "/api/files?path=notes.txt", nil)

	// Delete, then it is gone: 404 naming the files folder.
	e.wantFileReq(204, "", "DELETE", "/api/files/images/photo%20one.png", nil)
	e.wantFileReq(204, "", "DELETE", "/api/files/images", nil)
	_, raw = e.wantFileReq(404, "", "GET", "/api/files/images/photo%20one.png", nil)
	wantErrorCode(t, raw, "not_found", "path")
	if !strings.Contains(string(raw), dir) {
		t.Fatalf("404 does not name the files folder: %s", raw)
	}
	e.wantError(404, "not_found", "path", "GET", "/api/files?path=images", nil)
	e.wantError(400, "invalid_unknown", "recursive", "GET", "/api/files?recursive=1", nil)
	// No temporary upload file is left behind.
	left, _ := os.ReadDir(dir)
	for _, f := range left {
		if strings.HasPrefix(f.Name(), ".upload-") {
			t.Fatalf("left behind: %s", f.Name())
		}
	}
}

// TestFilesRefuseLeavingTheFolder: no spelling of a path, and no symbolic
// link, reaches a file outside the files folder.
func TestFilesRefuseLeavingTheFolder(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "files")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, backendKinds[0].open(t), withoutWorker(), withConfig(func(c *server.Config) { c.FilesDir = dir }))
	for _, tc := range []struct{ method, path, rule string }{
		{"GET", "/api/files/..%2Fsecret.txt", "path"},
		{"PUT", "/api/files/a%2F..%2F..%2Fsecret.txt", "path"},
		{"GET", "/api/files/%2Fetc%2Fpasswd", "path"},
		{"PUT", "/api/files/a%5Cb.txt", "charset"},
		{"PUT", "/api/files/a%0Ab.txt", "charset"},
		{"PUT", "/api/files/a%00b.txt", "charset"},
		{"DELETE", "/api/files/.%2Fx", "path"},
		{"GET", "/api/files/link.txt", "path"},
		{"GET", "/api/files/up/secret.txt", "path"},
		{"PUT", "/api/files/up/new.txt", "path"},
		{"DELETE", "/api/files/up/secret.txt", "path"},
	} {
		var body io.Reader
		if tc.method == "PUT" {
			body = strings.NewReader("overwritten")
		}
		status, _, raw := e.fileReq("", tc.method, tc.path, body)
		if status != 400 {
			t.Errorf("%s %s = %d %s, want 400", tc.method, tc.path, status, raw)
			continue
		}
		wantErrorCode(t, raw, "invalid_"+tc.rule, "path")
	}
	for _, q := range []string{"..", "/", "a/../..", "a//b"} {
		e.wantError(400, "invalid_path", "path", "GET", "/api/files?path="+q, nil)
	}
	if got, _ := os.ReadFile(filepath.Join(base, "secret.txt")); string(got) != "secret" {
		t.Fatalf("the file outside was changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(base, "new.txt")); err == nil {
		t.Fatal("an upload landed outside the files folder")
	}
}

func TestFilesUploadLimit(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, backendKinds[0].open(t), withoutWorker(), withConfig(func(c *server.Config) { c.FilesDir = dir; c.MaxUploadBytes = 1024 }))
	e.wantFileReq(201, "", "PUT", "/api/files/ok.bin", bytes.NewReader(make([]byte, 1024)))
	// Refused by its Content-Length, and (chunked, length unknown) while
	// it is read; neither leaves a file.
	_, raw := e.wantFileReq(413, "", "PUT", "/api/files/big.bin", bytes.NewReader(make([]byte, 1025)))
	wantErrorCode(t, raw, "body_too_large", "body")
	if !strings.Contains(string(raw), "--max-upload-bytes") {
		t.Fatalf("413 does not name the flag: %s", raw)
	}
	_, raw = e.wantFileReq(413, "", "PUT", "/api/files/big.bin", io.MultiReader(bytes.NewReader(make([]byte, 4096))))
	wantErrorCode(t, raw, "body_too_large", "body")
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "ok.bin" {
		t.Fatalf("files left: %v", left)
	}
}

func TestFilesRoles(t *testing.T) {
	const admin, reader = "admin-token-0123456789", "read-token-0123456789"
	dir := t.TempDir()
	e := newEnv(t, backendKinds[0].open(t), withoutWorker(), withConfig(func(c *server.Config) {
		c.FilesDir = dir
		c.APIKeys = []server.APIKey{{Name: "ops", Role: server.RoleAdmin, Token: admin}, {Name: "ro", Role: server.RoleRead, Token: reader}}
	}))
	e.wantFileReq(401, "", "GET", "/api/files", nil)
	e.wantFileReq(201, admin, "PUT", "/api/files/a.txt", strings.NewReader("a"))
	e.wantFileReq(200, reader, "GET", "/api/files", nil)
	e.wantFileReq(200, reader, "GET", "/api/files/a.txt", nil)
	_, raw := e.wantFileReq(403, reader, "PUT", "/api/files/b.txt", strings.NewReader("b"))
	wantErrorCode(t, raw, "forbidden", "")
	e.wantFileReq(403, reader, "DELETE", "/api/files/a.txt", nil)
	e.wantFileReq(204, admin, "DELETE", "/api/files/a.txt", nil)
}

func TestFilesWithoutAFolder(t *testing.T) {
	e := newEnv(t, backendKinds[0].open(t), withoutWorker())
	e.wantError(404, "not_found", "", "GET", "/api/files", nil)
}

type stubLink struct{ st server.LinkStatus }

func (l stubLink) LinkStatus() server.LinkStatus { return l.st }

func TestInfo(t *testing.T) {
	since := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	e := newEnv(t, backendKinds[0].open(t), withoutWorker(), withConfig(func(c *server.Config) {
		c.Build = server.BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.8"}
		c.DataDir, c.FilesDir = "/srv/taskmill", "/srv/taskmill/files"
		c.Links = []server.LinkReporter{stubLink{server.LinkStatus{Name: "amqp", State: server.LinkDown, Detail: "connection refused", Since: since, Required: true}}}
	}))
	var info apiclient.InfoView
	e.wantStatus(200, "GET", "/api/info", nil, &info)
	want := apiclient.InfoView{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.8", Backend: "test", DataDir: "/srv/taskmill", FilesDir: "/srv/taskmill/files",
		Links: []apiclient.LinkView{{Name: "amqp", State: "down", Detail: "connection refused", Since: since, Required: true}}}
	got, _ := json.Marshal(info)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Fatalf("info = %s\nwant   %s", got, exp)
	}
	e.wantError(400, "invalid_unknown", "x", "GET", "/api/info?x=1", nil)
}
