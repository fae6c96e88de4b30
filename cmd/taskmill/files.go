package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/taskmill/taskmill/apiclient"
)

func init() {
	commands["files"] = command{summary: "the files folder file-based tasks read and write: ls | put | get | rm", run: runFiles}
}

const filesUsage = `Usage: taskmill files ls [DIR] [--json]
       taskmill files put LOCAL [PATH]   upload LOCAL (- for stdin, with PATH) as PATH; PATH ending in / keeps LOCAL's name
       taskmill files get PATH [LOCAL]   download PATH into LOCAL (default its name, here; - for stdout)
       taskmill files rm PATH            delete a file or an empty folder

PATH is relative to the server's files folder (serve --data DIR: DIR/files),
the path task payloads name: taskmill files put photo.jpg images/ then
{"path":"images/photo.jpg"}.`

func runFiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: ls, put, get or rm\n%s", filesUsage)
	}
	sub := args[0]
	switch sub {
	case "ls", "list", "put", "get", "rm":
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, filesUsage)
		return nil
	default:
		return usagef("unknown subcommand %q\n%s", sub, filesUsage)
	}
	fs := newFlagSet("files " + sub)
	api := apiFlagSet(fs)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return helpOrErr(err, fs, stdout, filesUsage)
	}
	client, err := api.client()
	if err != nil {
		return err
	}
	switch sub {
	case "ls", "list":
		return filesList(ctx, client, api, pos, stdout)
	case "put":
		return filesPut(ctx, client, api, pos, stdout)
	case "get":
		return filesGet(ctx, client, pos, stdout, stderr)
	}
	if len(pos) != 1 {
		return usagef("files rm wants one PATH\n%s", filesUsage)
	}
	cctx, cancel := withCallTimeout(ctx)
	defer cancel()
	if err := client.DeleteFile(cctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %s\n", pos[0])
	return nil
}

func filesList(ctx context.Context, client *apiclient.Client, api *apiFlags, pos []string, stdout io.Writer) error {
	if len(pos) > 1 {
		return usagef("files ls takes at most one folder\n%s", filesUsage)
	}
	dir := ""
	if len(pos) == 1 {
		dir = strings.Trim(pos[0], "/")
	}
	cctx, cancel := withCallTimeout(ctx)
	defer cancel()
	list, err := client.ListFiles(cctx, dir)
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(stdout, list)
	}
	tb := newTable(stdout, "TYPE", "SIZE", "MODIFIED", "PATH")
	for _, f := range list.Entries {
		size, name := strconv.FormatInt(f.Size, 10), f.Path
		if f.Type == "dir" {
			size, name = "-", f.Path+"/"
		}
		tb.row(f.Type, size, ago(f.Modified), name)
	}
	tb.flush()
	if list.Truncated {
		fmt.Fprintln(stdout, "(more entries than one answer lists)")
	}
	return nil
}

func filesPut(ctx context.Context, client *apiclient.Client, api *apiFlags, pos []string, stdout io.Writer) error {
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("files put wants LOCAL [PATH]\n%s", filesUsage)
	}
	local, remote := pos[0], ""
	if len(pos) == 2 {
		remote = pos[1]
	}
	var body io.Reader
	size := int64(-1)
	if local == "-" {
		if remote == "" || strings.HasSuffix(remote, "/") {
			return usagef("files put - (stdin) wants a PATH with a file name")
		}
		body = os.Stdin
	} else {
		f, err := os.Open(local)
		if err != nil {
			return usagef("files put: %v", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return usagef("files put: %s is not a regular file", local)
		}
		body, size = f, st.Size()
		if remote == "" || strings.HasSuffix(remote, "/") {
			remote += filepath.Base(local)
		}
	}
	// No call timeout: a large file may take long; ctx still ends it.
	fe, err := client.UploadFile(ctx, remote, body, size)
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(stdout, fe)
	}
	fmt.Fprintf(stdout, "uploaded %s (%d bytes); payloads name it \"%s\"\n", fe.Path, fe.Size, fe.Path)
	return nil
}

func filesGet(ctx context.Context, client *apiclient.Client, pos []string, stdout, stderr io.Writer) error {
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("files get wants PATH [LOCAL]\n%s", filesUsage)
	}
	remote, local := pos[0], path.Base(pos[0])
	if len(pos) == 2 {
		local = pos[1]
	}
	if local == "-" {
		_, err := client.DownloadFile(ctx, remote, stdout)
		return err
	}
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		local = filepath.Join(local, path.Base(remote))
	}
	// Into a temporary file first, so a failed download leaves no half
	// file (and no empty one for a 404) under the name asked for.
	tmp, err := os.CreateTemp(filepath.Dir(local), ".taskmill-get-*")
	if err != nil {
		return fmt.Errorf("files get: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := client.DownloadFile(ctx, remote, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_ = os.Chmod(tmp.Name(), 0o644) // CreateTemp's 0600 is for the half file only
	if err := os.Rename(tmp.Name(), local); err != nil {
		return fmt.Errorf("files get: %w", err)
	}
	fmt.Fprintf(stderr, "saved %s (%d bytes)\n", local, n)
	return nil
}
