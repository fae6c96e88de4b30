package tasktypes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskmill/taskmill"
)

// File paths in payloads name files under Config.DataDir. They are
// checked twice: by their spelling at submit (relative, no "..", no
// absolute path), and by the operating system at run time, where every
// file is opened through an os.Root, which refuses any path that would
// leave the directory, symbolic links included.

// checkDataPath refuses a path that is not a plain relative path below
// the files folder.
func checkDataPath(field, p string) error {
	switch {
	case p == "":
		return taskmill.Invalid(field, "required", "give a path relative to the files folder")
	case len(p) > 1024:
		return taskmill.Invalid(field, "length", "is %d bytes; the limit is 1024", len(p))
	case strings.ContainsRune(p, 0):
		return taskmill.Invalid(field, "format", "contains a NUL byte")
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':'):
		return taskmill.Invalid(field, "path", "must be relative to the files folder, not absolute: %q", p)
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return taskmill.Invalid(field, "path", "must stay inside the files folder; %q has a .. element", p)
		}
	}
	return nil
}

// openDataRoot opens the files folder as an os.Root, creating it on
// first use.
func openDataRoot(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create the files folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open the files folder: %w", err)
	}
	return root, nil
}

// fileError turns an error opening a payload's file into the task's
// error. A file that is missing or outside the directory fails without
// retry: trying again will meet the same file system.
//
// The messages name the files folder by its absolute path: a user who
// reads "no such file" must learn where the file was looked for, and how
// to put it there.
func fileError(root *os.Root, field, p string, err error) error {
	dir := root.Name()
	if abs, aerr := filepath.Abs(dir); aerr == nil {
		dir = abs
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return taskmill.SkipRetry(fmt.Errorf("%s %q: no such file in the files folder %s (upload it with taskmill files put, PUT /api/files/%s or the dashboard)", field, p, dir, p))
	case errors.Is(err, fs.ErrPermission):
		return taskmill.SkipRetry(fmt.Errorf("%s %q: permission denied in the files folder %s", field, p, dir))
	case strings.Contains(err.Error(), "path escapes from parent"): // os.Root's refusal, not exported
		return taskmill.SkipRetry(fmt.Errorf("%s %q: refused, the path leads out of the files folder %s", field, p, dir))
	}
	return fmt.Errorf("%s %q: %w", field, p, err)
}

// openRegular opens a regular file under root, refusing anything else
// before opening it: opening a named pipe would block until a writer
// came, and a device is no file to process. The file is checked again
// once open, since the path may have been swapped for something else in
// between; the returned FileInfo is the open file's.
func openRegular(root *os.Root, field, p string) (*os.File, fs.FileInfo, error) {
	notRegular := func() error {
		return taskmill.SkipRetry(taskmill.Invalid(field, "type", "%q is not a regular file", p))
	}
	st, err := root.Stat(p)
	if err != nil {
		return nil, nil, fileError(root, field, p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, notRegular()
	}
	f, err := root.Open(p)
	if err != nil {
		return nil, nil, fileError(root, field, p, err)
	}
	if st, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, fileError(root, field, p, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular()
	}
	return f, st, nil
}
