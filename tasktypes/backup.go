package tasktypes

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
)

type backupPayload struct {
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
	DurationMS  *int   `json:"duration_ms,omitempty"`
	cfg         Config
}

func (p *backupPayload) check() error {
	switch {
	case p.Source == "" && p.DurationMS == nil:
		return taskmill.Invalid("payload.source", "required", "give source (a directory in the files folder to archive) or duration_ms")
	case p.Source != "" && p.DurationMS != nil:
		return taskmill.Invalid("payload.duration_ms", "conflict", "give source or duration_ms, not both")
	case p.DurationMS != nil && (*p.DurationMS < 0 || *p.DurationMS > p.cfg.MaxSleepMS):
		return taskmill.Invalid("payload.duration_ms", "range", "must be between 0 and %d, got %d", p.cfg.MaxSleepMS, *p.DurationMS)
	case p.DurationMS != nil && p.Destination != "":
		return taskmill.Invalid("payload.destination", "conflict", "a timed run writes no archive")
	case p.DurationMS != nil:
		return nil
	}
	if err := checkDataPath("payload.source", p.Source); err != nil {
		return err
	}
	if p.Destination != "" {
		if err := checkDataPath("payload.destination", p.Destination); err != nil {
			return err
		}
		if !strings.HasSuffix(p.Destination, ".tar.gz") && !strings.HasSuffix(p.Destination, ".tgz") {
			return taskmill.Invalid("payload.destination", "format", "must end in .tar.gz or .tgz")
		}
	}
	return nil
}

// BackupResult is the result of a simulate_backup task. In "archive" mode
// Archive is the path of the .tar.gz written, relative to the data
// directory, with the SHA-256 of its bytes; Bytes counts the files'
// contents before compression; Skipped counts entries that are neither
// regular files nor directories (symbolic links are never followed).
type BackupResult struct {
	Mode         string `json:"mode"`
	Source       string `json:"source,omitempty"`
	Archive      string `json:"archive,omitempty"`
	Files        int    `json:"files"`
	Directories  int    `json:"directories"`
	Skipped      int    `json:"skipped"`
	Bytes        int64  `json:"bytes"`
	ArchiveBytes int64  `json:"archive_bytes"`
	SHA256       string `json:"sha256,omitempty"`
	DurationMS   int64  `json:"duration_ms"`
}

func backupType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "simulate_backup",
		Description: "A long-running task: archives a directory of the files folder to a .tar.gz, reporting progress " +
			"by bytes; or, given duration_ms instead, just runs that long with progress.",
		Schema: schema(`{"type":"object","additionalProperties":false,"properties":{
			"source":{"type":"string","maxLength":1024,"description":"directory to archive, relative to the files folder"},
			"destination":{"type":"string","maxLength":1024,"pattern":"\\.(tar\\.gz|tgz)$","description":"archive to write, relative to the files folder; default backups/<source>-<task id>.tar.gz"},
			"duration_ms":{"type":"integer","minimum":0,"maximum":` + strconv.Itoa(cfg.MaxSleepMS) + `,"default":5000,"description":"without a source: how long to run"}},
			"oneOf":[{"required":["source"]},{"required":["duration_ms"]}]}`),
		Timeout: 2 * time.Hour,
	}, func(p *backupPayload) { p.cfg = cfg },
		func(ctx context.Context, t *taskmill.Task, p *backupPayload) (any, error) {
			start := time.Now()
			if p.DurationMS != nil {
				if err := sleepWithProgress(ctx, t, time.Duration(*p.DurationMS)*time.Millisecond); err != nil {
					return nil, err
				}
				return BackupResult{Mode: "duration", DurationMS: int64(*p.DurationMS)}, nil
			}
			dest := p.Destination
			if dest == "" {
				name := path.Base(strings.Trim(strings.ReplaceAll(p.Source, `\`, "/"), "/"))
				if name == "." || name == "" {
					name = "data"
				}
				dest = "backups/" + name + "-" + t.ID() + ".tar.gz"
			}
			res, err := archiveDir(ctx, t, cfg, p.Source, dest)
			if err != nil {
				return nil, err
			}
			res.DurationMS = time.Since(start).Milliseconds()
			return res, nil
		})
}

// archiveDir writes source as a gzipped tarball at dest, both under the
// data directory: first to a temporary name, renamed into place once
// complete and synced, so a crash or cancel never leaves a truncated
// archive under the final name.
func archiveDir(ctx context.Context, t *taskmill.Task, cfg Config, source, dest string) (*BackupResult, error) {
	root, err := openDataRoot(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fsys := root.FS()
	src := path.Clean(strings.ReplaceAll(source, `\`, "/"))
	st, err := fs.Stat(fsys, src)
	if err != nil {
		return nil, fileError(root, "payload.source", source, err)
	}
	if !st.IsDir() {
		return nil, taskmill.SkipRetry(taskmill.Invalid("payload.source", "type", "%q is not a directory", source))
	}
	destClean := path.Clean(strings.ReplaceAll(dest, `\`, "/"))
	partial := destClean + ".partial-" + t.ID()
	// Neither the archive nor a partial file of this task (this run's
	// included) goes into the archive.
	skip := func(p string) bool { return p == destClean || strings.HasSuffix(p, ".partial-"+t.ID()) }

	// First pass: what there is to copy, checked against the limits
	// before a byte is written.
	res := &BackupResult{Mode: "archive", Source: source, Archive: destClean}
	err = fs.WalkDir(fsys, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return canceled(ctx)
		}
		switch {
		case skip(p):
		case d.IsDir():
			res.Directories++
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			res.Files++
			res.Bytes += info.Size()
		default:
			res.Skipped++
		}
		if res.Files+res.Directories > cfg.MaxBackupFiles {
			return taskmill.SkipRetry(taskmill.Invalid("payload.source", "size", "%q holds more than %d files and directories", source, cfg.MaxBackupFiles))
		}
		if res.Bytes > cfg.MaxBackupBytes {
			return taskmill.SkipRetry(taskmill.Invalid("payload.source", "size", "%q holds more than %d bytes", source, cfg.MaxBackupBytes))
		}
		return nil
	})
	if err != nil {
		return nil, fileError(root, "payload.source", source, err)
	}
	total := res.Bytes
	top := path.Base(src) // entries are stored under the source's own name
	if top == "." {
		top = "data"
	}

	if dir := path.Dir(destClean); dir != "." {
		if err := root.MkdirAll(dir, 0o750); err != nil {
			return nil, fileError(root, "payload.destination", dest, err)
		}
	}
	out, err := root.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fileError(root, "payload.destination", dest, err)
	}
	ok := false
	defer func() {
		if !ok {
			out.Close()
			_ = root.Remove(partial)
		}
	}()
	hash := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(out, hash)}
	gz := gzip.NewWriter(counter)
	tw := tar.NewWriter(gz)
	prog := newProgress(t)
	var done int64
	copied := &BackupResult{}
	err = fs.WalkDir(fsys, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip(p) || (!d.IsDir() && !d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, src), "/")
		if rel == "" {
			rel = "."
		}
		hdr.Name = path.Join(top, rel)
		hdr.Uname, hdr.Gname = "", "" // no host user names in a portable archive
		if d.IsDir() {
			hdr.Name += "/"
			copied.Directories++
			return tw.WriteHeader(hdr)
		}
		if copied.Files++; copied.Files > cfg.MaxBackupFiles || done+hdr.Size > cfg.MaxBackupBytes {
			// The first pass checked the limits; the tree grew since.
			return taskmill.SkipRetry(taskmill.Invalid("payload.source", "size", "%q grew past the limits while it was archived", source))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := copyCtx(ctx, tw, f, hdr.Size, func(n int64) {
			prog.report(ctx, percentOf(done+n, total), func() string {
				return fmt.Sprintf("%s of %s archived", humanBytes(done+n), humanBytes(total))
			})
		})
		done += n
		if err != nil {
			return fmt.Errorf("archive %s: %w", p, err)
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		return nil, fileError(root, "payload.source", source, err)
	}
	if err := root.Rename(partial, destClean); err != nil {
		return nil, fileError(root, "payload.destination", dest, err)
	}
	ok = true
	res.Files, res.Directories, res.Bytes = copied.Files, copied.Directories, done
	res.ArchiveBytes = counter.n
	res.SHA256 = hex.EncodeToString(hash.Sum(nil))
	prog.done(ctx, fmt.Sprintf("%d files, %s into %s", res.Files, humanBytes(res.Bytes), humanBytes(res.ArchiveBytes)))
	return res, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// copyCtx copies exactly size bytes from r to w in chunks, checking ctx
// between them and telling progress the running total.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader, size int64, progress func(n int64)) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for n < size {
		if ctx.Err() != nil {
			return n, canceled(ctx)
		}
		chunk := buf[:min(int64(len(buf)), size-n)]
		k, err := io.ReadFull(r, chunk)
		if k > 0 {
			if _, werr := w.Write(chunk[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			progress(n)
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return n, errors.New("the file shrank while it was archived")
			}
			return n, err
		}
	}
	return n, nil
}

func percentOf(n, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return float64(n) * 100 / float64(total)
}

// humanBytes formats a byte count for a progress message: "12.3 MB".
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
