package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
)

func init() {
	commands["version"] = command{summary: "print the version, commit and Go version of this binary", run: runVersion}
}

// Set by `make build` through -ldflags "-X main.version=… -X main.commit=…".
// Left empty, the build information the Go toolchain stamps into every
// binary decides: the module version of a `go install …@v1.2.3`, the VCS
// revision of a build inside a git checkout.
var version, commit string

// buildIdentity is what `taskmill version` and GET /api/info report.
type buildIdentity struct {
	Version   string
	Commit    string
	GoVersion string
}

// identity reads the binary's identity: ldflags first, then the build
// information, then "devel" and "unknown", never an empty string.
func identity() buildIdentity {
	id := buildIdentity{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if id.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			id.Version = info.Main.Version
		}
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if id.Commit == "" {
					id.Commit = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && id.Commit != "" && commit == "" {
			id.Commit += "-dirty"
		}
		if info.GoVersion != "" {
			id.GoVersion = info.GoVersion
		}
	}
	if id.Commit == "" {
		id.Commit = pseudoVersionRev(id.Version)
	}
	if id.Version == "" {
		id.Version = "devel"
	}
	if id.Commit == "" {
		id.Commit = "unknown"
	}
	return id
}

// pseudoVersion matches the version `go install …@latest` records for a
// commit without a tag (v0.0.0-20261206165213-69a17228fa7e): its last
// part is the commit.
var pseudoVersion = regexp.MustCompile(`^v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})(?:\+incompatible)?$`)

// pseudoVersionRev returns the commit a pseudo-version names, or "".
func pseudoVersionRev(v string) string {
	if m := pseudoVersion.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return ""
}

func (id buildIdentity) String() string {
	return fmt.Sprintf("taskmill %s (commit %s, %s)", id.Version, id.Commit, id.GoVersion)
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			fmt.Fprintln(stdout, "Usage: taskmill version   (also: taskmill --version)")
			return nil
		}
		return usagef("version takes no arguments, got %q", args[0])
	}
	id := identity()
	fmt.Fprintln(stdout, id)
	return nil
}
