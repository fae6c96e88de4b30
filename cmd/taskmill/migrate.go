package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/taskmill/taskmill/backend/postgres"
)

func init() {
	commands["migrate"] = command{summary: "apply or show the PostgreSQL backend's schema migrations: up | status", run: runMigrate}
}

// runMigrate applies the embedded migrations to a PostgreSQL backend's
// schema (up) or lists which are applied (status). serve and worker
// apply them at start unless --no-migrate; this runs them alone, e.g.
// from a deploy step before the new version starts.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate")
	backendURL := fs.String("backend", envString("TASKMILL_BACKEND", ""), "the PostgreSQL backend: postgres://user:pass@host:5432/db[?schema=NAME] (env TASKMILL_BACKEND)")
	usage := func() {
		fs.SetOutput(stderr)
		fmt.Fprintln(stderr, "Usage: taskmill migrate up|status --backend postgres://…")
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return usagef("migrate: want up or status")
		}
		return flag.ErrHelp
	}
	action := args[0]
	if action != "up" && action != "status" {
		return usagef("migrate: unknown action %q (want up or status)", action)
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	switch schemeOf(*backendURL) {
	case "postgres", "postgresql":
	default:
		return usagef("migrate: --backend must be a postgres:// URL; only the PostgreSQL backend has migrations")
	}
	cfg, opts, err := postgres.ParseURL(*backendURL, postgres.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return usagef("--backend %s: %v", redactURL(*backendURL), err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	if action == "up" {
		applied, err := postgres.Migrate(ctx, pool, opts.Schema)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(stdout, "schema %s is up to date\n", opts.Schema)
		}
		for _, v := range applied {
			fmt.Fprintf(stdout, "applied %04d to schema %s\n", v, opts.Schema)
		}
		return nil
	}
	st, err := postgres.MigrationsStatus(ctx, pool, opts.Schema)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema %s:\n", opts.Schema)
	for _, m := range st {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(stdout, "  %04d %-12s %s\n", m.Version, m.Name, state)
	}
	return nil
}
