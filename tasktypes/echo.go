package tasktypes

import (
	"context"
	"encoding/json"

	"github.com/taskmill/taskmill"
)

func echoType() taskmill.TaskType {
	return taskmill.TaskType{
		Name:        "echo",
		Description: "Returns its payload unchanged as the result: the cheapest task, for tests and benchmarks.",
		Schema:      schema(`{"type":"object","description":"any JSON object; it comes back as the result"}`),
		Validate: func(raw json.RawMessage) error {
			var v map[string]json.RawMessage
			return taskmill.DecodePayload(raw, &v)
		},
		Handler: taskmill.HandlerFunc(func(_ context.Context, t *taskmill.Task) (any, error) {
			if len(t.Payload()) == 0 {
				return json.RawMessage(`{}`), nil
			}
			return t.Payload(), nil
		}),
	}
}
