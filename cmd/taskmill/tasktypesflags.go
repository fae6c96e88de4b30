package main

import (
	"flag"
	"path/filepath"

	"github.com/taskmill/taskmill/tasktypes"
)

// taskTypeFlags adds the built-in task types' settings to fs, with
// TASKMILL_* environment defaults, and returns the config they fill in.
// serve and worker both use it, so both run the types the same way.
// Each flag's default is the value tasktypes.Config.WithDefaults fills
// in (or its TASKMILL_* variable), so -h states it; only --files-dir and
// --smtp-port default to "" and 0, as their defaults depend on --data and
// --smtp-tls.
func taskTypeFlags(fs *flag.FlagSet, dataDir *string) func() tasktypes.Config {
	var cfg tasktypes.Config
	var filesDir string
	d := tasktypes.Config{}.WithDefaults()
	allowHosts, denyHosts := envList("TASKMILL_HTTP_ALLOW_HOSTS"), envList("TASKMILL_HTTP_DENY_HOSTS")
	allowCIDRs, denyCIDRs := envList("TASKMILL_HTTP_ALLOW_CIDRS"), envList("TASKMILL_HTTP_DENY_CIDRS")

	fs.StringVar(&filesDir, "files-dir", envString("TASKMILL_FILES_DIR", ""), "directory file paths in task payloads are confined to; default <data>/files (env TASKMILL_FILES_DIR)")
	fs.IntVar(&cfg.MaxFibonacciN, "max-fibonacci-n", envInt("TASKMILL_MAX_FIBONACCI_N", d.MaxFibonacciN), "largest n a fibonacci task may ask for (env TASKMILL_MAX_FIBONACCI_N)")
	fs.IntVar(&cfg.MaxSleepMS, "max-sleep-ms", envInt("TASKMILL_MAX_SLEEP_MS", d.MaxSleepMS), "longest sleep, and simulate_backup duration, in ms (env TASKMILL_MAX_SLEEP_MS)")
	fs.IntVar(&cfg.MaxTextBytes, "max-text-bytes", envInt("TASKMILL_MAX_TEXT_BYTES", d.MaxTextBytes), "largest text a text task, email body or HTTP request body may carry (env TASKMILL_MAX_TEXT_BYTES)")
	fs.IntVar(&cfg.MaxTopN, "max-top-n", envInt("TASKMILL_MAX_TOP_N", d.MaxTopN), "most top words or n-grams a task may ask for (env TASKMILL_MAX_TOP_N)")
	fs.IntVar(&cfg.MaxSummarySentences, "max-summary-sentences", envInt("TASKMILL_MAX_SUMMARY_SENTENCES", d.MaxSummarySentences), "most sentences a summary may keep (env TASKMILL_MAX_SUMMARY_SENTENCES)")
	fs.IntVar(&cfg.MaxInputSentences, "max-input-sentences", envInt("TASKMILL_MAX_INPUT_SENTENCES", d.MaxInputSentences), "most sentences text_summarization ranks (env TASKMILL_MAX_INPUT_SENTENCES)")
	fs.IntVar(&cfg.MaxImageBytes, "max-image-bytes", envInt("TASKMILL_MAX_IMAGE_BYTES", d.MaxImageBytes), "largest encoded input image in bytes (env TASKMILL_MAX_IMAGE_BYTES)")
	fs.IntVar(&cfg.MaxImageSide, "max-image-side", envInt("TASKMILL_MAX_IMAGE_SIDE", d.MaxImageSide), "largest image width or height in pixels, in and out (env TASKMILL_MAX_IMAGE_SIDE)")
	fs.IntVar(&cfg.MaxImagePixels, "max-image-pixels", envInt("TASKMILL_MAX_IMAGE_PIXELS", d.MaxImagePixels), "largest image width × height, in and out (env TASKMILL_MAX_IMAGE_PIXELS)")
	fs.Int64Var(&cfg.MaxImageDecodeBytes, "max-image-decode-bytes", envInt64("TASKMILL_MAX_IMAGE_DECODE_BYTES", d.MaxImageDecodeBytes), "largest memory one input image may take decoded: width × height × bytes per pixel (env TASKMILL_MAX_IMAGE_DECODE_BYTES)")
	fs.Int64Var(&cfg.ImageMemoryBytes, "image-memory", envInt64("TASKMILL_IMAGE_MEMORY", d.ImageMemoryBytes), "memory in bytes all image tasks of this process may hold at once; tasks wait for their share (env TASKMILL_IMAGE_MEMORY)")
	fs.IntVar(&cfg.MaxResultBytes, "max-result-bytes", envInt("TASKMILL_MAX_RESULT_BYTES", d.MaxResultBytes), "largest JSON result of a built-in task in bytes (env TASKMILL_MAX_RESULT_BYTES)")
	fs.IntVar(&cfg.MaxNumbers, "max-numbers", envInt("TASKMILL_MAX_NUMBERS", d.MaxNumbers), "most numbers calculate_statistics takes (env TASKMILL_MAX_NUMBERS)")
	fs.IntVar(&cfg.MaxHistogramBins, "max-histogram-bins", envInt("TASKMILL_MAX_HISTOGRAM_BINS", d.MaxHistogramBins), "most histogram bins (env TASKMILL_MAX_HISTOGRAM_BINS)")
	fs.IntVar(&cfg.MaxPatternLength, "max-pattern-length", envInt("TASKMILL_MAX_PATTERN_LENGTH", d.MaxPatternLength), "longest find_patterns regular expression in bytes (env TASKMILL_MAX_PATTERN_LENGTH)")
	fs.IntVar(&cfg.MaxMatches, "max-matches", envInt("TASKMILL_MAX_MATCHES", d.MaxMatches), "most matches find_patterns lists with positions (env TASKMILL_MAX_MATCHES)")
	fs.Int64Var(&cfg.MaxFileBytes, "max-file-bytes", envInt64("TASKMILL_MAX_FILE_BYTES", d.MaxFileBytes), "largest file large_file_processing streams (env TASKMILL_MAX_FILE_BYTES)")
	fs.Int64Var(&cfg.MaxBackupBytes, "max-backup-bytes", envInt64("TASKMILL_MAX_BACKUP_BYTES", d.MaxBackupBytes), "largest directory simulate_backup archives, in bytes (env TASKMILL_MAX_BACKUP_BYTES)")
	fs.IntVar(&cfg.MaxBackupFiles, "max-backup-files", envInt("TASKMILL_MAX_BACKUP_FILES", d.MaxBackupFiles), "most files and directories simulate_backup archives (env TASKMILL_MAX_BACKUP_FILES)")

	fs.DurationVar(&cfg.HTTPTimeout, "http-timeout", envDuration("TASKMILL_HTTP_TIMEOUT", d.HTTPTimeout), "timeout of each HTTP try of the network task types (env TASKMILL_HTTP_TIMEOUT)")
	fs.IntVar(&cfg.HTTPMaxRetries, "http-max-retries", envInt("TASKMILL_HTTP_MAX_RETRIES", d.HTTPMaxRetries), "HTTP tries again within a task after a network error, 5xx or 429; -1 for none (env TASKMILL_HTTP_MAX_RETRIES)")
	fs.DurationVar(&cfg.HTTPMaxRetryWait, "http-max-retry-wait", envDuration("TASKMILL_HTTP_MAX_RETRY_WAIT", d.HTTPMaxRetryWait), "longest wait between HTTP tries, Retry-After included (env TASKMILL_HTTP_MAX_RETRY_WAIT)")
	fs.Int64Var(&cfg.HTTPMaxResponseBytes, "http-max-response-bytes", envInt64("TASKMILL_HTTP_MAX_RESPONSE_BYTES", d.HTTPMaxResponseBytes), "largest HTTP response body kept (env TASKMILL_HTTP_MAX_RESPONSE_BYTES)")
	fs.Var(allowHosts, "http-allow-hosts", "if set, the only hosts http_request may reach: a.com,*.b.com; repeat for more (env TASKMILL_HTTP_ALLOW_HOSTS)")
	fs.Var(denyHosts, "http-deny-hosts", "hosts no task may reach: a.com,*.b.com; repeat for more (env TASKMILL_HTTP_DENY_HOSTS)")
	fs.Var(allowCIDRs, "http-allow-cidrs", "private ranges tasks may reach after all: 10.1.2.0/24,fd00::/64; repeat for more (env TASKMILL_HTTP_ALLOW_CIDRS)")
	fs.Var(denyCIDRs, "http-deny-cidrs", "ranges denied on top of loopback, private, link-local and the other non-public ones; repeat for more (env TASKMILL_HTTP_DENY_CIDRS)")
	fs.BoolVar(&cfg.UnsafeHTTPAllowLoopback, "unsafe-http-allow-loopback", envBool("TASKMILL_UNSAFE_HTTP_ALLOW_LOOPBACK", false), "UNSAFE, for tests only: let network tasks reach 127.0.0.0/8 and ::1, this machine's own services (env TASKMILL_UNSAFE_HTTP_ALLOW_LOOPBACK)")
	fs.StringVar(&cfg.WeatherBaseURL, "weather-base-url", envString("TASKMILL_WEATHER_BASE_URL", d.WeatherBaseURL), "Open-Meteo forecast API base URL (env TASKMILL_WEATHER_BASE_URL)")
	fs.StringVar(&cfg.GeocodingBaseURL, "geocoding-base-url", envString("TASKMILL_GEOCODING_BASE_URL", d.GeocodingBaseURL), "Open-Meteo geocoding API base URL (env TASKMILL_GEOCODING_BASE_URL)")
	fs.StringVar(&cfg.CurrencyBaseURL, "currency-base-url", envString("TASKMILL_CURRENCY_BASE_URL", d.CurrencyBaseURL), "Frankfurter v1 API base URL (env TASKMILL_CURRENCY_BASE_URL)")

	fs.StringVar(&cfg.SMTPHost, "smtp-host", envString("TASKMILL_SMTP_HOST", ""), "SMTP server of send_email; unset, send_email fails (env TASKMILL_SMTP_HOST)")
	fs.IntVar(&cfg.SMTPPort, "smtp-port", envInt("TASKMILL_SMTP_PORT", 0), "SMTP port; default 587, or 465 with --smtp-tls tls (env TASKMILL_SMTP_PORT)")
	fs.StringVar(&cfg.SMTPTLS, "smtp-tls", envString("TASKMILL_SMTP_TLS", d.SMTPTLS), "starttls (required), tls (from the first byte) or none (env TASKMILL_SMTP_TLS)")
	fs.StringVar(&cfg.SMTPUsername, "smtp-username", envString("TASKMILL_SMTP_USERNAME", ""), "SMTP AUTH PLAIN user (env TASKMILL_SMTP_USERNAME)")
	fs.StringVar(&cfg.SMTPPassword, "smtp-password", envString("TASKMILL_SMTP_PASSWORD", ""), "SMTP password; prefer the env TASKMILL_SMTP_PASSWORD, which ps does not show")
	fs.StringVar(&cfg.SMTPFrom, "smtp-from", envString("TASKMILL_SMTP_FROM", d.SMTPFrom), "sender of every email (env TASKMILL_SMTP_FROM)")
	fs.StringVar(&cfg.SMTPCAFile, "smtp-ca-file", envString("TASKMILL_SMTP_CA_FILE", ""), "PEM file of CA certificates the SMTP server's certificate may chain to, besides the system's (env TASKMILL_SMTP_CA_FILE)")
	fs.DurationVar(&cfg.SMTPTimeout, "smtp-timeout", envDuration("TASKMILL_SMTP_TIMEOUT", d.SMTPTimeout), "timeout of one SMTP delivery (env TASKMILL_SMTP_TIMEOUT)")
	fs.IntVar(&cfg.MaxEmailRecipients, "max-email-recipients", envInt("TASKMILL_MAX_EMAIL_RECIPIENTS", d.MaxEmailRecipients), "most recipients of one email (env TASKMILL_MAX_EMAIL_RECIPIENTS)")

	return func() tasktypes.Config {
		c := cfg
		c.DataDir = filesDir
		if c.DataDir == "" {
			// A subdirectory, so that tasks cannot read or overwrite the
			// embedded store that lives in the data directory itself.
			c.DataDir = filepath.Join(*dataDir, "files")
		}
		c.HTTPAllowHosts, c.HTTPDenyHosts = allowHosts.values(), denyHosts.values()
		c.HTTPAllowCIDRs, c.HTTPDenyCIDRs = allowCIDRs.values(), denyCIDRs.values()
		if c.HTTPMaxRetries == 0 {
			c.HTTPMaxRetries = -1 // 0 on the command line means none; Config reads 0 as the default
		}
		return c
	}
}
