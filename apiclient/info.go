package apiclient

import (
	"context"
	"time"
)

// InfoView answers GET /api/info: which build serves, over which backend,
// where its data lives, and the state of its links to other systems.
type InfoView struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	// Backend is the kind of backend ("embedded", "redis"), never a URL.
	Backend string `json:"backend"`
	// DataDir is the absolute path of the data directory; empty when
	// the server keeps no data on its own disk.
	DataDir string `json:"data_dir,omitempty"`
	// FilesDir is the absolute path of the folder file-based tasks of
	// this server's in-process workers read and write, and that
	// /api/files serves; empty when the server has none.
	FilesDir string     `json:"files_dir,omitempty"`
	Links    []LinkView `json:"links"`
}

// LinkView is one link of the server to a system other than its backend
// (an AMQP broker, say).
type LinkView struct {
	Name     string    `json:"name"`
	State    string    `json:"state"` // up, connecting or down
	Detail   string    `json:"detail,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Required bool      `json:"required"`
}

// Info returns GET /api/info.
func (c *Client) Info(ctx context.Context) (*InfoView, error) {
	var v InfoView
	return &v, c.do(ctx, "GET", "/api/info", nil, nil, &v)
}
