package tasktypes

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config holds the limits and settings of the built-in types. The zero
// value is usable; every field's comment gives its default. Every input a
// payload can carry is bounded by one of these limits.
type Config struct {
	// DataDir is the directory file paths in payloads are confined to:
	// image files, large_file_processing inputs, simulate_backup sources
	// and archives. Paths are relative to it and cannot leave it, not
	// even through a symbolic link. Default "./taskmill-data/files".
	DataDir string

	// MaxFibonacciN bounds the n of a fibonacci task. Default 100000
	// (a 20,899-digit result).
	MaxFibonacciN int
	// MaxSleepMS bounds the ms of a sleep task and the duration_ms of a
	// simulate_backup run without a source. Default one hour.
	MaxSleepMS int

	// MaxTextBytes bounds the text of word_count, sentiment_analysis,
	// text_summarization and find_patterns, the body of send_email and
	// the request body of http_request. Default 512 KiB.
	MaxTextBytes int
	// MaxTopN bounds how many top words or n-grams a task may ask for.
	// Default 1000.
	MaxTopN int
	// MaxSummarySentences bounds how many sentences text_summarization may
	// return, and MaxInputSentences how many it ranks (TextRank compares
	// every pair). Defaults 100 and 2000.
	MaxSummarySentences int
	MaxInputSentences   int

	// MaxImageBytes bounds an input image's encoded size, inline or in a
	// file. Default 16 MiB. Inline images are also bounded by the server's
	// payload limit (1 MiB by default).
	MaxImageBytes int
	// MaxImageSide bounds an input image's width and height, and the
	// size an image_resize may ask for. Default 8192.
	MaxImageSide int
	// MaxImagePixels bounds an input image's width × height, checked from
	// its header before any pixel is decoded. Default 40 million (a
	// decoded image then takes at most 160 MB).
	MaxImagePixels int
	// MaxImageDecodeBytes bounds the memory one input image takes once
	// decoded: width × height × the bytes a pixel of its colour model
	// takes (1 for grey or paletted, 3 for JPEG, 4 for 8-bit RGBA, 8 for
	// 16-bit RGBA), checked from its header before any pixel is decoded.
	// Default 256 MiB.
	MaxImageDecodeBytes int64
	// ImageMemoryBytes bounds the memory all image tasks of the process
	// hold at once: each waits (respecting its context) for its share —
	// the decoded image, the encoded input, its working copies and its
	// output — before it decodes, and one whose share exceeds the whole
	// budget fails at once (an inline image already at submit). Default
	// 1 GiB.
	ImageMemoryBytes int64

	// MaxResultBytes bounds the JSON result of a built-in task; a larger
	// one fails the task without retry. Default 16 MiB.
	MaxResultBytes int

	// MaxNumbers bounds the numbers of a calculate_statistics task.
	// Default 1,000,000 (also bounded by the payload limit).
	MaxNumbers int
	// MaxHistogramBins bounds its histogram. Default 1000.
	MaxHistogramBins int

	// MaxPatternLength bounds a find_patterns regular expression, in
	// bytes. Default 1000.
	MaxPatternLength int
	// MaxMatches bounds the matches find_patterns lists with positions
	// (it still counts every match). Default 1000.
	MaxMatches int

	// MaxFileBytes bounds the file large_file_processing streams. Default
	// 64 GiB: it never holds the file in memory, so this bounds time.
	MaxFileBytes int64
	// MaxBackupBytes and MaxBackupFiles bound the directory
	// simulate_backup archives. Defaults 8 GiB and 100,000.
	MaxBackupBytes int64
	MaxBackupFiles int

	// HTTPTimeout bounds each HTTP attempt of http_request, weather_data
	// and currency_conversion, from dial to the last byte. Default 15s.
	HTTPTimeout time.Duration
	// HTTPMaxRetries is how many times a request is tried again, within
	// the task, after a network error, a 5xx or a 429. Default 3;
	// negative for none.
	HTTPMaxRetries int
	// HTTPMaxRetryWait bounds one wait between tries, including a
	// Retry-After the server asks for; a longer Retry-After fails the
	// attempt instead and leaves the wait to the queue's backoff.
	// Default 30s.
	HTTPMaxRetryWait time.Duration
	// HTTPMaxResponseBytes bounds the response body kept. Default 1 MiB.
	HTTPMaxResponseBytes int64
	// HTTPAllowHosts, when not empty, is the only host names http_request
	// may reach: "example.com" or "*.example.com". Default empty: any.
	HTTPAllowHosts []string
	// HTTPDenyHosts are host names no task may reach, same syntax.
	HTTPDenyHosts []string
	// HTTPAllowCIDRs are address ranges reachable although denied by
	// default (an internal API at 10.1.2.3/32, say).
	HTTPAllowCIDRs []string
	// HTTPDenyCIDRs are address ranges denied on top of the defaults:
	// loopback, private, link-local, unspecified, multicast, CGNAT and
	// the other special-purpose ranges of RFC 6890 are always denied
	// unless allowed above.
	HTTPDenyCIDRs []string
	// UnsafeHTTPAllowLoopback lets tasks reach 127.0.0.0/8 and ::1. It
	// exists for tests that run the network types against local servers;
	// it turns every task into a way to the machine's own services.
	UnsafeHTTPAllowLoopback bool

	// WeatherBaseURL is where weather_data finds an Open-Meteo forecast
	// API (GET {base}/v1/forecast). Default "https://api.open-meteo.com".
	WeatherBaseURL string
	// GeocodingBaseURL is where weather_data turns a city into
	// coordinates with Open-Meteo's geocoding API (GET {base}/v1/search).
	// Default "https://geocoding-api.open-meteo.com".
	GeocodingBaseURL string
	// CurrencyBaseURL is where currency_conversion finds a Frankfurter v1
	// API serving the European Central Bank's reference rates (GET
	// {base}/latest, {base}/YYYY-MM-DD). Default
	// "https://api.frankfurter.dev/v1".
	CurrencyBaseURL string

	// SMTPHost is the mail server send_email uses. Default empty: no
	// server, and send_email fails without retry saying so.
	SMTPHost string
	// SMTPPort defaults to 587 (465 when SMTPTLS is "tls").
	SMTPPort int
	// SMTPUsername and SMTPPassword, when set, authenticate with AUTH
	// PLAIN, which is only ever sent over TLS or to localhost.
	SMTPUsername string
	SMTPPassword string
	// SMTPFrom is the sender of every message; tasks cannot choose it.
	// Register fails when it is not an email address. Default
	// "taskmill@localhost".
	SMTPFrom string
	// SMTPTLS is "starttls" (default: the server must offer STARTTLS),
	// "tls" (TLS from the first byte, port 465) or "none" (plain text,
	// for a relay on the same host only).
	SMTPTLS string
	// SMTPRootCAs verifies the server's certificate; nil uses the
	// system's roots plus SMTPCAFile, a PEM file, when set.
	SMTPRootCAs *x509.CertPool
	SMTPCAFile  string
	// SMTPTimeout bounds one delivery. Default 30s.
	SMTPTimeout time.Duration
	// MaxEmailRecipients bounds to + cc + bcc. Default 50.
	MaxEmailRecipients int
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	setInt := func(p *int, def int) {
		if *p <= 0 {
			*p = def
		}
	}
	setInt64 := func(p *int64, def int64) {
		if *p <= 0 {
			*p = def
		}
	}
	setDur := func(p *time.Duration, def time.Duration) {
		if *p <= 0 {
			*p = def
		}
	}
	setStr := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	setStr(&c.DataDir, "./taskmill-data/files")
	setInt(&c.MaxFibonacciN, 100_000)
	setInt(&c.MaxSleepMS, 3_600_000)
	setInt(&c.MaxTextBytes, 512<<10)
	setInt(&c.MaxTopN, 1000)
	setInt(&c.MaxSummarySentences, 100)
	setInt(&c.MaxInputSentences, 2000)
	setInt(&c.MaxImageBytes, 16<<20)
	setInt(&c.MaxImageSide, 8192)
	setInt(&c.MaxImagePixels, 40_000_000)
	setInt64(&c.MaxImageDecodeBytes, 256<<20)
	setInt64(&c.ImageMemoryBytes, 1<<30)
	setInt(&c.MaxResultBytes, 16<<20)
	setInt(&c.MaxNumbers, 1_000_000)
	setInt(&c.MaxHistogramBins, 1000)
	setInt(&c.MaxPatternLength, 1000)
	setInt(&c.MaxMatches, 1000)
	setInt64(&c.MaxFileBytes, 64<<30)
	setInt64(&c.MaxBackupBytes, 8<<30)
	setInt(&c.MaxBackupFiles, 100_000)
	setDur(&c.HTTPTimeout, 15*time.Second)
	if c.HTTPMaxRetries == 0 {
		c.HTTPMaxRetries = 3
	} else if c.HTTPMaxRetries < 0 {
		c.HTTPMaxRetries = 0
	}
	setDur(&c.HTTPMaxRetryWait, 30*time.Second)
	setInt64(&c.HTTPMaxResponseBytes, 1<<20)
	setStr(&c.WeatherBaseURL, "https://api.open-meteo.com")
	setStr(&c.GeocodingBaseURL, "https://geocoding-api.open-meteo.com")
	setStr(&c.CurrencyBaseURL, "https://api.frankfurter.dev/v1")
	setStr(&c.SMTPTLS, "starttls")
	if c.SMTPPort <= 0 {
		c.SMTPPort = 587
		if c.SMTPTLS == "tls" {
			c.SMTPPort = 465
		}
	}
	setStr(&c.SMTPFrom, "taskmill@localhost")
	setDur(&c.SMTPTimeout, 30*time.Second)
	setInt(&c.MaxEmailRecipients, 50)
	return c
}

// validate reports the first setting that cannot work, naming it.
func (c Config) validate() error {
	for _, u := range []struct{ name, val string }{
		{"WeatherBaseURL", c.WeatherBaseURL}, {"GeocodingBaseURL", c.GeocodingBaseURL}, {"CurrencyBaseURL", c.CurrencyBaseURL},
	} {
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s %q: want an http or https URL", u.name, u.val)
		}
	}
	for _, list := range []struct {
		name string
		val  []string
	}{{"HTTPAllowCIDRs", c.HTTPAllowCIDRs}, {"HTTPDenyCIDRs", c.HTTPDenyCIDRs}} {
		if _, err := parsePrefixes(list.val); err != nil {
			return fmt.Errorf("%s: %w", list.name, err)
		}
	}
	for _, list := range []struct {
		name string
		val  []string
	}{{"HTTPAllowHosts", c.HTTPAllowHosts}, {"HTTPDenyHosts", c.HTTPDenyHosts}} {
		for _, h := range list.val {
			if err := checkHostPattern(h); err != nil {
				return fmt.Errorf("%s: %w", list.name, err)
			}
		}
	}
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		return fmt.Errorf("SMTPTLS %q: want starttls, tls or none", c.SMTPTLS)
	}
	if c.SMTPPort > 65535 {
		return fmt.Errorf("SMTPPort %d: want 1 to 65535", c.SMTPPort)
	}
	if strings.ContainsAny(c.SMTPFrom, "\r\n") {
		return errors.New("SMTPFrom: must be one line")
	}
	if c.SMTPCAFile != "" {
		if _, err := os.Stat(c.SMTPCAFile); err != nil {
			return fmt.Errorf("SMTPCAFile: %w", err)
		}
	}
	return nil
}

// parsePrefixes parses CIDRs ("10.0.0.0/8") and single addresses.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %v", s, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Addresses are checked unmapped, so ranges are kept unmapped.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
