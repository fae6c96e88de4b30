package tasktypes

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/taskmill/taskmill"
)

// limitResult bounds what a built-in handler returns: the result is
// stored in the backend and sent to every client that reads the task, so
// one handler must not store hundreds of megabytes. It encodes the
// result once here (the worker stores the json.RawMessage as it is) and
// fails the task without retry when it is larger than max bytes: the same
// input would give the same result again.
func limitResult(h taskmill.Handler, max int) taskmill.Handler {
	return taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
		v, err := h.ProcessTask(ctx, t)
		if err != nil || v == nil {
			return v, err
		}
		if raw, ok := v.(json.RawMessage); ok && len(raw) == 0 {
			return v, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode the result: %w", err)
		}
		if len(b) > max {
			return nil, taskmill.SkipRetry(fmt.Errorf("the result is %d bytes; the limit is %d (MaxResultBytes, --max-result-bytes)", len(b), max))
		}
		return json.RawMessage(b), nil
	})
}
