package taskmill_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/taskmill/taskmill"
)

// TestSkipRetryKeepsTheMessage: the error a person reads is the handler's,
// without a marker appended, and both the marker and the cause still match.
func TestSkipRetryKeepsTheMessage(t *testing.T) {
	cause := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}
	err := taskmill.SkipRetry(cause)
	if err.Error() != "open x: file does not exist" {
		t.Fatalf("message = %q", err)
	}
	var pe *fs.PathError
	if !errors.Is(err, taskmill.ErrSkipRetry) || !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		t.Fatalf("the chain lost the marker or the cause: %#v", err)
	}
	if errors.Is(cause, taskmill.ErrSkipRetry) {
		t.Fatal("the cause itself was marked")
	}
	if e := taskmill.SkipRetry(nil); e.Error() == "" || !errors.Is(e, taskmill.ErrSkipRetry) {
		t.Fatalf("SkipRetry(nil) = %v", e)
	}
}
