package tasktypes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

type largeFilePayload struct {
	Path string `json:"path"`
}

func (p *largeFilePayload) check() error { return checkDataPath("payload.path", p.Path) }

// LargeFileResult is the result of a large_file_processing task. Lines
// counts line feeds, plus one for a last line without one; Words counts
// runs of non-space characters (as wc -w does, Unicode spaces included);
// InvalidUTF8 counts bytes that are not part of valid UTF-8.
type LargeFileResult struct {
	Path        string `json:"path"`
	Bytes       int64  `json:"bytes"`
	Lines       int64  `json:"lines"`
	Words       int64  `json:"words"`
	Characters  int64  `json:"characters"`
	InvalidUTF8 int64  `json:"invalid_utf8"`
	SHA256      string `json:"sha256"`
	DurationMS  int64  `json:"duration_ms"`
}

func largeFileType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "large_file_processing",
		Description: "Streams a file of the files folder, never holding it in memory: counts lines, words, characters " +
			"and bytes and computes its SHA-256, reporting progress by bytes.",
		Schema: schema(`{"type":"object","required":["path"],"additionalProperties":false,"properties":{
			"path":{"type":"string","minLength":1,"maxLength":1024,"description":"file to process, relative to the files folder"}}}`),
		Timeout: 2 * time.Hour,
	}, nil, func(ctx context.Context, t *taskmill.Task, p *largeFilePayload) (any, error) {
		return processLargeFile(ctx, t, cfg, p.Path)
	})
}

// fileCounter counts lines, words and characters of a stream fed in
// chunks of any size: a rune split across two chunks is carried over.
type fileCounter struct {
	lines, words, chars, invalid int64
	inWord                       bool
	carry                        [utf8.UTFMax]byte
	ncarry                       int
	lastByte                     byte
	seen                         bool
}

func (c *fileCounter) write(p []byte) {
	if len(p) == 0 {
		return
	}
	c.seen = true
	c.lastByte = p[len(p)-1]
	if c.ncarry > 0 {
		// Finish the runes that began in the last chunk, using at most
		// UTFMax bytes of this one.
		var tmp [2 * utf8.UTFMax]byte
		n := copy(tmp[:], c.carry[:c.ncarry])
		n += copy(tmp[n:], p[:min(len(p), utf8.UTFMax)])
		from := c.ncarry
		c.ncarry = 0
		i, done := c.scan(tmp[:n], from)
		if !done {
			return // p was too short to finish the rune; it is carried
		}
		p = p[i-from:]
	}
	c.scan(p, len(p))
}

// scan counts the runes of b that start before limit, and returns where
// it stopped. A rune cut off by b's end is kept in carry (done false).
func (c *fileCounter) scan(b []byte, limit int) (int, bool) {
	i := 0
	for i < limit {
		if b[i] < utf8.RuneSelf {
			c.rune(rune(b[i]), 1)
			i++
			continue
		}
		if !utf8.FullRune(b[i:]) {
			c.ncarry = copy(c.carry[:], b[i:])
			return i, false
		}
		r, size := utf8.DecodeRune(b[i:])
		c.rune(r, size)
		i += size
	}
	return i, true
}

func (c *fileCounter) rune(r rune, size int) {
	if r == utf8.RuneError && size == 1 {
		c.invalid++
		if !c.inWord { // an undecodable byte is not a space: it starts or continues a word
			c.inWord = true
			c.words++
		}
		return
	}
	c.chars++
	if r == '\n' {
		c.lines++
	}
	if unicode.IsSpace(r) {
		c.inWord = false
	} else if !c.inWord {
		c.inWord = true
		c.words++
	}
}

// finish flushes a rune left incomplete at the end of the stream.
func (c *fileCounter) finish() {
	for i := 0; i < c.ncarry; i++ {
		c.rune(utf8.RuneError, 1)
	}
	c.ncarry = 0
	if c.seen && c.lastByte != '\n' {
		c.lines++
	}
}

func processLargeFile(ctx context.Context, t *taskmill.Task, cfg Config, p string) (*LargeFileResult, error) {
	start := time.Now()
	root, err := openDataRoot(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, st, err := openRegular(root, "payload.path", p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > cfg.MaxFileBytes {
		return nil, taskmill.SkipRetry(taskmill.Invalid("payload.path", "size", "%q is %d bytes; the limit is %d", p, st.Size(), cfg.MaxFileBytes))
	}
	total := st.Size()
	hash := sha256.New()
	var counter fileCounter
	prog := newProgress(t)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		k, err := f.Read(buf)
		if k > 0 {
			n += int64(k)
			if n > cfg.MaxFileBytes {
				return nil, taskmill.SkipRetry(taskmill.Invalid("payload.path", "size", "%q grew past %d bytes while it was read", p, cfg.MaxFileBytes))
			}
			hash.Write(buf[:k])
			counter.write(buf[:k])
			prog.report(ctx, min(percentOf(n, total), 99), func() string {
				return fmt.Sprintf("%s of %s read", humanBytes(n), humanBytes(total))
			})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fileError(root, "payload.path", p, err)
		}
	}
	counter.finish()
	res := &LargeFileResult{Path: p, Bytes: n, Lines: counter.lines, Words: counter.words, Characters: counter.chars,
		InvalidUTF8: counter.invalid, SHA256: hex.EncodeToString(hash.Sum(nil)), DurationMS: time.Since(start).Milliseconds()}
	prog.done(ctx, fmt.Sprintf("%s, %d lines, %d words", humanBytes(n), res.Lines, res.Words))
	return res, nil
}
