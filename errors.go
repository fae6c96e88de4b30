package taskmill

import (
	"errors"
	"fmt"

	"github.com/taskmill/taskmill/backend"
)

// Sentinel errors, shared with the backends so errors.Is works across layers.
var (
	ErrNotFound  = backend.ErrNotFound  // no such task or worker
	ErrLeaseLost = backend.ErrLeaseLost // the lease was reclaimed, canceled or finished
	ErrFinal     = backend.ErrFinal     // the task is already final
	ErrNotFinal  = backend.ErrNotFinal  // the task must be final (or failed/canceled for retry)
	ErrDuplicate = backend.ErrDuplicate // the unique key is held by another task
	ErrClosed    = backend.ErrClosed    // the backend was closed

	// ErrSkipRetry marks a handler error that must not be retried: the task
	// goes straight to failed. Wrap it with SkipRetry.
	ErrSkipRetry = errors.New("skip retry")
)

// SkipRetry wraps err so that the worker fails the task without retrying
// it. The message stays err's own: the task's error is read by people, to
// whom a trailing "skip retry" says nothing. errors.Is(err, ErrSkipRetry)
// and errors.As on err's chain both work.
func SkipRetry(err error) error {
	if err == nil {
		err = errors.New("handler asked not to retry")
	}
	return skipRetryError{err}
}

// skipRetryError marks err as not worth retrying.
type skipRetryError struct{ err error }

func (e skipRetryError) Error() string   { return e.err.Error() }
func (e skipRetryError) Unwrap() []error { return []error{e.err, ErrSkipRetry} }

// ValidationError says which input field broke which rule. The HTTP API
// answers it with 400 and {"error":{"code":"invalid_<rule>","field",…}}.
type ValidationError struct {
	Field   string // JSON path of the field, e.g. "payload.n"
	Rule    string // short machine name of the rule: "required", "range", "type", …
	Message string // what a person should do about it
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Invalid returns a *ValidationError.
func Invalid(field, rule, format string, args ...any) error {
	return &ValidationError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// prefixField puts prefix in front of the field a *ValidationError names
// ("tasks[3]" + "payload.n"); any other error is wrapped with the prefix.
func prefixField(prefix string, err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return &ValidationError{Field: fieldPath(prefix, ve.Field), Rule: ve.Rule, Message: ve.Message}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// DuplicateError is returned by Submit when the unique key is held. It
// wraps ErrDuplicate and names the task that holds the key.
type DuplicateError struct{ ExistingID string }

func (e *DuplicateError) Error() string {
	return "duplicate task: unique key held by task " + e.ExistingID
}

func (e *DuplicateError) Unwrap() error { return ErrDuplicate }
