package server

import "time"

// LinkReporter is a connection the server keeps to a system other than its
// backend (an AMQP broker, say). Its state shows in GET /readyz, in the
// metrics and on the dashboard's overview, so an operator sees a link that
// is down without reading logs.
type LinkReporter interface {
	LinkStatus() LinkStatus
}

// LinkStatus is one link's state at the moment it is asked.
type LinkStatus struct {
	// Name says what the link is ("amqp").
	Name string `json:"name"`
	// State is "up", "connecting" or "down".
	State string `json:"state"`
	// Detail is a message a person can act on; never a URL with
	// credentials.
	Detail string `json:"detail,omitempty"`
	// Since is when the link entered State.
	Since time.Time `json:"since,omitzero"`
	// Required links make /readyz answer 503 while they are not up.
	Required bool `json:"required"`
}

// The link states.
const (
	LinkUp         = "up"
	LinkConnecting = "connecting"
	LinkDown       = "down"
)
