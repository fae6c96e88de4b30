package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/taskmill/taskmill/apiclient"
)

// progressBar draws a task's progress on a terminal, redrawing one line;
// on anything else (a log file, a pipe) it writes a line per change.
type progressBar struct {
	w    io.Writer
	tty  bool
	last string
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty}
}

const barWidth = 30

func (p *progressBar) update(t *apiclient.Task) {
	pct := 0.0
	msg := ""
	if t.Progress != nil {
		pct, msg = t.Progress.Percent, t.Progress.Message
	}
	if t.State == "completed" {
		pct = 100
	}
	filled := int(pct / 100 * barWidth)
	line := fmt.Sprintf("[%s%s] %3.0f%% %-10s attempt %d/%d", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), pct, t.State, t.Attempt, t.MaxAttempts)
	if msg != "" {
		line += " " + firstLine(msg)
	}
	if line == p.last {
		return
	}
	p.last = line
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressBar) done() {
	if p.tty && p.last != "" {
		fmt.Fprintln(p.w)
	}
}
