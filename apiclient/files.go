package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
)

// FileEntry is one file or folder of the server's files folder.
type FileEntry struct {
	// Name is the last element of Path.
	Name string `json:"name"`
	// Path is relative to the files folder, with / between folders: the
	// path a task's payload names it by.
	Path string `json:"path"`
	// Type is "file", "dir" or "other" (a symbolic link, a pipe…).
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

// FileList answers GET /api/files: one folder's entries, folders first.
type FileList struct {
	// Dir is the folder listed, relative to the files folder ("" for the
	// files folder itself).
	Dir     string      `json:"dir"`
	Entries []FileEntry `json:"entries"`
	// Truncated is true when the folder holds more entries than one
	// answer lists.
	Truncated bool `json:"truncated"`
}

// filePath escapes each element of a files-folder path for a URL path.
func filePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return "/api/files/" + strings.Join(parts, "/")
}

// checkPath refuses, before anything is sent, a path the server would
// refuse too; "." and ".." in particular, which a URL would resolve on the
// way instead of sending.
func checkPath(field, p string) error {
	err := taskmill.ValidateFilePath(field, p)
	var ve *taskmill.ValidationError
	if errors.As(err, &ve) {
		return &Error{Status: 400, Code: "invalid_" + ve.Rule, Field: ve.Field, Message: ve.Message}
	}
	return err
}

// ListFiles lists a folder of the files folder ("" for its top).
func (c *Client) ListFiles(ctx context.Context, dir string) (*FileList, error) {
	var q url.Values
	if dir != "" {
		q = url.Values{"path": {dir}}
	}
	var v FileList
	return &v, c.do(ctx, "GET", "/api/files", q, nil, &v)
}

// DeleteFile deletes a file or an empty folder of the files folder.
func (c *Client) DeleteFile(ctx context.Context, p string) error {
	if err := checkPath("path", p); err != nil {
		return err
	}
	return c.doRaw(ctx, "DELETE", filePath(p), nil, -1, nil, nil)
}

// UploadFile stores body as the file p of the files folder (folders
// created as needed; an existing file replaced). size is the body's
// length, or -1 when unknown.
func (c *Client) UploadFile(ctx context.Context, p string, body io.Reader, size int64) (*FileEntry, error) {
	if err := checkPath("path", p); err != nil {
		return nil, err
	}
	var v FileEntry
	return &v, c.doRaw(ctx, "PUT", filePath(p), body, size, nil, &v)
}

// DownloadFile writes the file p of the files folder to w.
func (c *Client) DownloadFile(ctx context.Context, p string, w io.Writer) (int64, error) {
	if err := checkPath("path", p); err != nil {
		return 0, err
	}
	var n int64
	err := c.doRaw(ctx, "GET", filePath(p), nil, -1, func(r io.Reader) error {
		var err error
		n, err = io.Copy(w, r)
		return err
	}, nil)
	return n, err
}

// doRaw sends a request with a raw (non-JSON) body and either streams a
// success answer to sink or decodes it as JSON into out.
func (c *Client) doRaw(ctx context.Context, method, path string, body io.Reader, size int64, sink func(io.Reader) error, out any) error {
	// path is escaped already (filePath): keep both spellings so that a
	// "%2F" or "?" inside a name stays part of that name.
	plain, err := url.PathUnescape(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	u := *c.base
	u.Path += plain
	u.RawPath = c.base.EscapedPath() + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
		if size >= 0 {
			req.ContentLength = size
		}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return fmt.Errorf("%s %s: %w: %v", method, path, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(resp.StatusCode, raw)
	}
	if sink != nil {
		if err := sink(resp.Body); err != nil {
			return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
		}
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if out != nil && len(raw) > 0 {
		if err := jsonUnmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
}
