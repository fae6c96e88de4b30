// Package tasktypes holds taskmill's built-in task types: the handlers a
// new user can try on day one and that exercise every part of the
// pipeline. Register adds them all to a ServeMux; the server uses the same
// mux to validate payloads at submit time, and workers use it to run them.
//
// Every type checks its payload twice: at submit (through the mux's
// Validate, so a bad payload is refused with a field-level error before
// anything is stored) and again in the worker, where a payload that no
// longer passes fails the task without retry.
//
// Every input is bounded by a limit in Config. File paths in payloads are
// confined to Config.DataDir through an os.Root; the network types dial
// through a policy that checks each resolved address on the socket, so
// loopback, private and link-local addresses stay out of reach unless
// allowed. docs/task-types.md describes each type's payload and result.
package tasktypes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/taskmill/taskmill"
)

// Register adds every built-in type to mux, with cfg's limits and
// settings. It fails, registering nothing, when a setting cannot work (a
// malformed base URL or CIDR, say), and when a type's name is taken.
func Register(mux *taskmill.ServeMux, cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("built-in task types: %w", err)
	}
	policy, err := newNetPolicy(cfg)
	if err != nil {
		return fmt.Errorf("built-in task types: %w", err)
	}
	mailer, err := newMailer(cfg)
	if err != nil {
		return fmt.Errorf("built-in task types: %w", err)
	}
	// One budget for the image memory of every image task this process
	// runs at once, whichever type.
	images := newImageBudget(cfg.ImageMemoryBytes)
	types := []taskmill.TaskType{
		fibonacciType(cfg),
		sleepType(cfg),
		echoType(),
		wordCountType(cfg),
		sentimentType(cfg),
		summarizeType(cfg),
		imageResizeType(cfg, images),
		applyFilterType(cfg, images),
		statisticsType(cfg),
		patternsType(cfg),
		httpRequestType(cfg, policy),
		weatherType(cfg, policy),
		currencyType(cfg, policy),
		backupType(cfg),
		largeFileType(cfg),
		sendEmailType(cfg, mailer),
	}
	for i := range types {
		types[i].Handler = limitResult(types[i].Handler, cfg.MaxResultBytes)
	}
	for _, tt := range types {
		if _, taken := mux.Lookup(tt.Name); taken {
			return fmt.Errorf("register built-in task types: %q is already registered", tt.Name)
		}
	}
	for _, tt := range types {
		if err := mux.Register(tt); err != nil {
			return fmt.Errorf("register built-in task types: %w", err)
		}
	}
	return nil
}

// payloadRules is implemented by each type's payload struct: check returns
// a *taskmill.ValidationError naming the field that breaks a rule.
type payloadRules interface{ check() error }

// intField gives an optional integer field its default when the payload
// leaves it out, then refuses a value outside [lo, hi].
func intField(field string, p **int, def, lo, hi int) error {
	if *p == nil {
		*p = &def
	}
	if v := **p; v < lo || v > hi {
		return taskmill.Invalid(field, "range", "must be between %d and %d, got %d", lo, hi, v)
	}
	return nil
}

// define builds a TaskType whose payload decodes strictly into P and
// passes P's rules, both at submit and before run is called. limits, when
// not nil, fills in the configured bounds P's rules check against.
func define[P any, PP interface {
	*P
	payloadRules
}](tt taskmill.TaskType, limits func(*P), run func(ctx context.Context, t *taskmill.Task, p *P) (any, error)) taskmill.TaskType {
	decode := func(raw json.RawMessage) (*P, error) {
		p := new(P)
		if limits != nil {
			limits(p)
		}
		if err := taskmill.DecodePayload(raw, p); err != nil {
			return nil, err
		}
		if err := PP(p).check(); err != nil {
			return nil, err
		}
		return p, nil
	}
	tt.Validate = func(raw json.RawMessage) error {
		_, err := decode(raw)
		return err
	}
	tt.Handler = taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
		p, err := decode(t.Payload())
		if err != nil {
			// The payload was checked at submit; if it fails now, no retry
			// will make it pass.
			return nil, taskmill.SkipRetry(err)
		}
		return run(ctx, t, p)
	})
	return tt
}

// canceled turns a context's end into the handler's error, keeping its cause.
func canceled(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return errors.New("canceled")
}
