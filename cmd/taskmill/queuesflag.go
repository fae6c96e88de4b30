package main

import (
	"strconv"
	"strings"

	"github.com/taskmill/taskmill"
)

// parseQueueWeights reads "a=3,b=1" (a bare name has weight 1).
func parseQueueWeights(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight := part, 1
		if i := strings.IndexByte(part, '='); i >= 0 {
			name = part[:i]
			n, err := strconv.Atoi(part[i+1:])
			if err != nil || n < 1 || n > 1000 {
				return nil, usagef("--queues: weight of %q must be a whole number from 1 to 1000", name)
			}
			weight = n
		}
		if err := taskmill.ValidateName("queues", name); err != nil {
			return nil, usagef("--queues: %v", err)
		}
		out[name] = weight
	}
	if len(out) == 0 {
		return nil, usagef("--queues: no queue named")
	}
	return out, nil
}

// parseStrictQueues reads "a,b,c".
func parseStrictQueues(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if err := taskmill.ValidateName("strict", name); err != nil {
			return nil, usagef("--strict: %v", err)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, usagef("--strict: no queue named")
	}
	return out, nil
}
