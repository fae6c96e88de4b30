package tasktypes_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

// TestRegisterRefusesBadConfig: a setting that cannot work fails Register,
// naming the setting, and leaves the mux empty.
func TestRegisterRefusesBadConfig(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		cfg     tasktypes.Config
		setting string
	}{
		{"sender not an address", tasktypes.Config{SMTPFrom: "taskmill at example dot com"}, "SMTPFrom"},
		{"sender with an unclosed bracket", tasktypes.Config{SMTPFrom: "Taskmill <noreply@example.com"}, "SMTPFrom"},
		{"sender of two lines", tasktypes.Config{SMTPFrom: "a@example.com\r\nBcc: x@example.com"}, "SMTPFrom"},
		{"weather URL not http", tasktypes.Config{WeatherBaseURL: "ftp://api.example.com"}, "WeatherBaseURL"},
		{"geocoding URL not a URL", tasktypes.Config{GeocodingBaseURL: "geocoding"}, "GeocodingBaseURL"},
		{"currency URL without a host", tasktypes.Config{CurrencyBaseURL: "https://"}, "CurrencyBaseURL"},
		{"allowed CIDR out of range", tasktypes.Config{HTTPAllowCIDRs: []string{"10.0.0.0/33"}}, "HTTPAllowCIDRs"},
		{"denied CIDR not an address", tasktypes.Config{HTTPDenyCIDRs: []string{"intranet"}}, "HTTPDenyCIDRs"},
		{"allowed host a URL", tasktypes.Config{HTTPAllowHosts: []string{"https://example.com"}}, "HTTPAllowHosts"},
		{"denied host a bare wildcard", tasktypes.Config{HTTPDenyHosts: []string{"*"}}, "HTTPDenyHosts"},
		{"unknown TLS mode", tasktypes.Config{SMTPTLS: "ssl"}, "SMTPTLS"},
		{"port out of range", tasktypes.Config{SMTPPort: 70000}, "SMTPPort"},
		{"missing CA file", tasktypes.Config{SMTPCAFile: filepath.Join(t.TempDir(), "none.pem")}, "SMTPCAFile"},
		{"CA file without a certificate", tasktypes.Config{SMTPCAFile: notPEM}, "SMTPCAFile"},
	} {
		c.cfg.DataDir = t.TempDir()
		mux := taskmill.NewServeMux()
		err := tasktypes.Register(mux, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.setting) {
			t.Errorf("%s: err = %v; want a failure naming %s", c.name, err, c.setting)
		}
		if n := len(mux.Types()); n != 0 {
			t.Errorf("%s: %d types registered after a failed Register", c.name, n)
		}
	}
}

// TestRegisterRefusesTakenName: a name already on the mux fails Register,
// which then registers none of the built-in types, not even those before
// the taken one.
func TestRegisterRefusesTakenName(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("send_email", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	err := tasktypes.Register(mux, tasktypes.Config{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `"send_email"`) || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("err = %v; want send_email named as taken", err)
	}
	if types := mux.Types(); len(types) != 1 || types[0].Name != "send_email" {
		names := make([]string, len(types))
		for i, tt := range types {
			names[i] = tt.Name
		}
		t.Errorf("types after a failed Register: %v; want only the send_email registered before", names)
	}
}

// TestNetworkTimeoutsCoverEveryTry: a network type's timeout leaves room
// for every try of each of its requests to take the attempt timeout and
// the longest wait; weather_data makes two requests (geocoding, then the
// forecast).
func TestNetworkTimeoutsCoverEveryTry(t *testing.T) {
	mux := testMux(t, tasktypes.Config{HTTPTimeout: 5 * time.Second, HTTPMaxRetries: 2, HTTPMaxRetryWait: 10 * time.Second})
	for name, want := range map[string]time.Duration{
		"http_request":        3*15*time.Second + 10*time.Second,
		"currency_conversion": 3*15*time.Second + 10*time.Second,
		"weather_data":        2*3*15*time.Second + 10*time.Second,
	} {
		tt, _ := mux.Lookup(name)
		if tt.Timeout != want {
			t.Errorf("%s: timeout %s, want %s", name, tt.Timeout, want)
		}
	}
}
