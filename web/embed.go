// Package web holds the dashboard: its sources (React, TypeScript, Vite)
// and its built files in dist/, which are committed and embedded so that
// `go run` and `go install` give a working dashboard without npm.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built dashboard, rooted at its index.html.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time; it is always there
	}
	return sub
}
