package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagGroup is one topic of a long command's help: its flags, in the
// order a reader needs them, and one example command line.
type flagGroup struct {
	title   string
	example string
	names   []string
}

// serveWorkerGroups sorts the flags of serve and worker by topic; -h
// prints them in these groups instead of one alphabetical list of ~70.
// A flag missing here would land in "Other" (TestHelpGroupsEveryFlag
// fails then).
var serveWorkerGroups = []flagGroup{
	{"Network", "taskmill serve --addr 0.0.0.0:8080 --api-key ops:admin:$(openssl rand -hex 16)",
		[]string{"addr", "allowed-hosts", "max-body", "max-batch", "max-payload", "max-conns", "body-timeout", "backend-timeout"}},
	{"Storage", "taskmill serve --data /var/lib/taskmill   (or --backend redis://localhost:6379/0)",
		[]string{"data", "files-dir", "backend", "redis-wait-replicas", "no-migrate", "retain-completed", "retain-canceled", "retain-failed", "forget-queues-after"}},
	{"Workers", "taskmill worker --backend redis://localhost:6379/0 --concurrency 16 --queues critical=3,default=1",
		[]string{"workers", "max-local-slots", "concurrency", "id", "queues", "strict", "lease-duration", "shutdown-timeout"}},
	{"Auth", "taskmill serve --api-key ci:read:READTOKEN --api-key ops:admin:ADMINTOKEN --cors-origin https://ops.example.com",
		[]string{"api-key", "api-keys-file", "insecure", "cors-origin"}},
	{"Telemetry", "taskmill serve --metrics --otel-endpoint http://localhost:4318 --log-format json",
		[]string{"log-level", "log-format", "metrics", "public-metrics", "metrics-addr", "otel-endpoint", "otel-service-name", "trace-sample-ratio"}},
	{"Schedules", "taskmill serve --schedules schedules.json --timezone Europe/Berlin",
		[]string{"schedules", "timezone"}},
	{"RabbitMQ (submits and replies over AMQP; see docs/amqp.md)", "taskmill serve --amqp amqps://user:pass@rabbit.example.com/ --amqp-events taskmill.events",
		[]string{"amqp", "amqp-queue", "amqp-classic-queue", "amqp-dead-letter", "amqp-prefetch", "amqp-no-replies", "amqp-required", "amqp-events"}},
	{"Limits of the built-in task types", "taskmill serve --max-image-side 4096 --max-sleep-ms 60000",
		[]string{"max-fibonacci-n", "max-sleep-ms", "max-text-bytes", "max-top-n", "max-summary-sentences", "max-input-sentences",
			"max-image-bytes", "max-image-side", "max-image-pixels", "max-numbers", "max-histogram-bins", "max-pattern-length",
			"max-matches", "max-file-bytes", "max-backup-bytes", "max-backup-files", "max-upload-bytes",
			"max-image-decode-bytes", "image-memory", "max-result-bytes"}},
	{"Network task types (http_request, weather_data, currency_conversion)",
		"taskmill serve --weather-base-url http://10.0.0.5:8081 --http-allow-cidrs 10.0.0.5/32",
		[]string{"http-timeout", "http-max-retries", "http-max-retry-wait", "http-max-response-bytes", "http-allow-hosts", "http-deny-hosts",
			"http-allow-cidrs", "http-deny-cidrs", "unsafe-http-allow-loopback", "weather-base-url", "geocoding-base-url", "currency-base-url"}},
	{"Email (send_email)", "taskmill serve --smtp-host smtp.example.com --smtp-username bot --smtp-from bot@example.com",
		[]string{"smtp-host", "smtp-port", "smtp-tls", "smtp-username", "smtp-password", "smtp-from", "smtp-ca-file", "smtp-timeout", "max-email-recipients"}},
}

// printGroupedFlags writes fs's flags under the groups' titles, each
// group with its example; flags of no group come last under "Other".
func printGroupedFlags(w io.Writer, fs *flag.FlagSet, groups []flagGroup) {
	seen := map[string]bool{}
	for _, g := range groups {
		var flags []*flag.Flag
		for _, name := range g.names {
			if f := fs.Lookup(name); f != nil && !seen[name] {
				flags = append(flags, f)
				seen[name] = true
			}
		}
		if len(flags) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, f := range flags {
			printFlag(w, f)
		}
		if g.example != "" {
			fmt.Fprintf(w, "  e.g. %s\n", g.example)
		}
	}
	var other []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			other = append(other, f)
		}
	})
	if len(other) > 0 {
		fmt.Fprintln(w, "\nOther:")
		for _, f := range other {
			printFlag(w, f)
		}
	}
}

// printFlag writes one flag as flag.PrintDefaults would, with the
// two-dash spelling the docs use.
func printFlag(w io.Writer, f *flag.Flag) {
	typ, usage := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if typ != "" {
		line += " " + typ
	}
	if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "[]" {
		if typ == "string" {
			def = fmt.Sprintf("%q", def)
		}
		usage += " (default " + def + ")"
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
}
