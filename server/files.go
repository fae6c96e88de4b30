package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
)

// The files API serves the files folder (Config.FilesDir), the one the
// built-in file-based task types read and write. Every path is checked
// twice: by its spelling (checkFilePath: relative, no "." or "..", no
// control characters) and by the operating system, since every file is
// reached through an os.Root, which refuses to leave the folder, symbolic
// links included.

// maxListEntries bounds one GET /api/files answer.
const maxListEntries = 10_000

// checkFilePath refuses a path that is not a plain relative path inside
// the files folder (taskmill.ValidateFilePath). "" is the folder itself,
// allowed only where emptyOK.
func checkFilePath(field, p string, emptyOK bool) error {
	if p == "" && emptyOK {
		return nil
	}
	return taskmill.ValidateFilePath(field, p)
}

// errNoFilesDir: the server was configured without a files folder.
var errNoFilesDir = fmt.Errorf("this server has no files folder: %w", taskmill.ErrNotFound)

// openFiles opens the files folder, creating it on first use.
// openFilePath checks the {path} of a files route and opens the files
// folder; on a problem it has answered already and ok is false. The caller
// closes root.
func (s *Server) openFilePath(w http.ResponseWriter, r *http.Request) (root *os.Root, p string, ok bool) {
	p = r.PathValue("path")
	if err := checkFilePath("path", p, false); err != nil {
		s.fail(w, r, err)
		return nil, "", false
	}
	root, err := s.openFiles()
	if err != nil {
		s.fail(w, r, err)
		return nil, "", false
	}
	return root, p, true
}

func (s *Server) openFiles() (*os.Root, error) {
	if s.cfg.FilesDir == "" {
		return nil, errNoFilesDir
	}
	if err := os.MkdirAll(s.cfg.FilesDir, 0o750); err != nil {
		return nil, fmt.Errorf("create the files folder: %w", err)
	}
	root, err := os.OpenRoot(s.cfg.FilesDir)
	if err != nil {
		return nil, fmt.Errorf("open the files folder: %w", err)
	}
	return root, nil
}

// fileFail answers a file system error: a missing file is 404, a path the
// OS refuses is 400, a file where a folder must be (or the reverse) is 409.
func (s *Server) fileFail(w http.ResponseWriter, r *http.Request, p string, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Field: "path", Message: fmt.Sprintf("no %q in the files folder %s", p, s.cfg.FilesDir)})
	case strings.Contains(err.Error(), "path escapes from parent"): // os.Root's refusal, not exported
		s.fail(w, r, taskmill.Invalid("path", "path", "%q leads out of the files folder (through a symbolic link)", p))
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
		writeError(w, http.StatusConflict, apiError{Code: "file_conflict", Field: "path", Message: fmt.Sprintf("%q: %v", p, errors.Unwrap(err))})
	default:
		s.fail(w, r, err)
	}
}

// GET /api/files?path=DIR
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "path"); err != nil {
		s.fail(w, r, err)
		return
	}
	dir := r.URL.Query().Get("path")
	if err := checkFilePath("path", dir, true); err != nil {
		s.fail(w, r, err)
		return
	}
	root, err := s.openFiles()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer root.Close()
	name := dir
	if name == "" {
		name = "."
	}
	f, err := root.Open(name)
	if err != nil {
		s.fileFail(w, r, dir, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.fileFail(w, r, dir, err)
		return
	}
	if !st.IsDir() {
		s.fail(w, r, taskmill.Invalid("path", "type", "%q is a file, not a folder; GET /api/files/%s downloads it", dir, dir))
		return
	}
	list := apiclient.FileList{Dir: dir, Entries: []apiclient.FileEntry{}}
	entries, err := f.ReadDir(maxListEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		s.fileFail(w, r, dir, err)
		return
	}
	if len(entries) > maxListEntries {
		entries, list.Truncated = entries[:maxListEntries], true
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir read it
		}
		fe := apiclient.FileEntry{Name: e.Name(), Path: path.Join(dir, e.Name()), Type: "other", Size: info.Size(), Modified: info.ModTime().UTC()}
		switch {
		case info.Mode().IsRegular():
			fe.Type = "file"
		case info.IsDir():
			fe.Type, fe.Size = "dir", 0
		}
		list.Entries = append(list.Entries, fe)
	}
	sort.Slice(list.Entries, func(i, j int) bool {
		a, b := list.Entries[i], list.Entries[j]
		if (a.Type == "dir") != (b.Type == "dir") {
			return a.Type == "dir"
		}
		return a.Name < b.Name
	})
	writeJSON(w, http.StatusOK, list)
}

// fileTypes are the content types a download may carry, by extension.
// Anything else is application/octet-stream: no HTML or SVG is ever served
// as such, so a file a task wrote cannot run script in the dashboard's
// origin.
var fileTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
	".txt": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
	".csv": "text/csv; charset=utf-8", ".json": "application/json", ".pdf": "application/pdf",
	".tar": "application/x-tar", ".gz": "application/gzip", ".tgz": "application/gzip", ".zip": "application/zip",
}

// GET /api/files/{path}
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "inline"); err != nil {
		s.fail(w, r, err)
		return
	}
	inline := false
	switch v := r.URL.Query().Get("inline"); v {
	case "", "false":
	case "true":
		inline = true
	default:
		s.fail(w, r, taskmill.Invalid("inline", "type", "must be true or false, got %q", v))
		return
	}
	root, p, ok := s.openFilePath(w, r)
	if !ok {
		return
	}
	defer root.Close()
	f, err := root.Open(p)
	if err != nil {
		s.fileFail(w, r, p, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.fileFail(w, r, p, err)
		return
	}
	if !st.Mode().IsRegular() {
		s.fail(w, r, taskmill.Invalid("path", "type", "%q is not a regular file; list a folder with GET /api/files?path=%s", p, p))
		return
	}
	ctype, ok := fileTypes[strings.ToLower(path.Ext(p))]
	if !ok {
		ctype = "application/octet-stream"
	}
	disposition := "attachment"
	if inline && (strings.HasPrefix(ctype, "image/") || strings.HasPrefix(ctype, "text/plain")) {
		disposition = "inline"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": path.Base(p)}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// PUT /api/files/{path}: the body, as it is, becomes the file. It is
// written to a temporary file beside the target and renamed over it, so a
// task never reads half an upload, and an upload cut short leaves the old
// file in place.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	p := r.PathValue("path")
	if err := checkFilePath("path", p, false); err != nil {
		s.fail(w, r, err)
		return
	}
	limit := s.cfg.MaxUploadBytes
	tooBig := func() {
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: "body_too_large", Field: "body",
			Message: fmt.Sprintf("the file is larger than the upload limit of %d bytes (serve --max-upload-bytes)", limit)})
	}
	if r.ContentLength > limit {
		tooBig()
		return
	}
	root, err := s.openFiles()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer root.Close()
	if st, err := root.Lstat(p); err == nil && !st.Mode().IsRegular() {
		writeError(w, http.StatusConflict, apiError{Code: "file_conflict", Field: "path", Message: fmt.Sprintf("%q is a folder or a special file; delete it first or choose another name", p)})
		return
	}
	if dir := path.Dir(p); dir != "." {
		if err := root.MkdirAll(dir, 0o750); err != nil {
			s.fileFail(w, r, dir, err)
			return
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(p), ".upload-"+hex.EncodeToString(rnd[:])+".tmp")
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		s.fileFail(w, r, p, err)
		return
	}
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, p)
	}
	if err != nil {
		_ = root.Remove(tmp)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooBig()
			return
		}
		s.fileFail(w, r, p, err)
		return
	}
	st, err := root.Stat(p)
	if err != nil {
		s.fileFail(w, r, p, err)
		return
	}
	s.log.Info("file uploaded", "path", p, "bytes", n)
	w.Header().Set("Location", "/api/files/"+p)
	writeJSON(w, http.StatusCreated, apiclient.FileEntry{Name: path.Base(p), Path: p, Type: "file", Size: st.Size(), Modified: st.ModTime().UTC()})
}

// DELETE /api/files/{path}: a file, or a folder that is empty.
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	root, p, ok := s.openFilePath(w, r)
	if !ok {
		return
	}
	defer root.Close()
	if err := root.Remove(p); err != nil {
		s.fileFail(w, r, p, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
