package tasktypes

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// schema compacts a JSON Schema literal, panicking on a malformed one:
// the schemas are constants of this package, checked by its tests.
func schema(s string) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		panic(fmt.Sprintf("tasktypes: malformed schema %q: %v", s, err))
	}
	return buf.Bytes()
}
