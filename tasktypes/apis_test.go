package tasktypes_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
	"github.com/taskmill/taskmill/tasktypes/tasktypestest"
)

func TestWeatherFromOpenMeteo(t *testing.T) {
	om := tasktypestest.StartOpenMeteo(t)
	cfg := loopbackConfig()
	cfg.WeatherBaseURL, cfg.GeocodingBaseURL = om.URL, om.URL
	mux := testMux(t, cfg)

	var r tasktypes.WeatherResult
	mustRun(t, mux, "weather_data", map[string]any{"city": "Berlin", "days": 2}, &r)
	// The fake's weather: now latitude/4 = 13.131… → 13.1 °C; day i
	// between that −3+i and +3+i; overcast now, slight rain daily.
	if r.Location.Name != "Berlin" || r.Location.Country != "Germany" || r.Location.Latitude != 52.52437 {
		t.Errorf("location = %+v", r.Location)
	}
	if r.Current.Temperature != 13.1 || r.Current.Description != "overcast" || r.Units["temperature"] != "°C" {
		t.Errorf("current = %+v, units %v", r.Current, r.Units)
	}
	if len(r.Daily) != 2 || r.Daily[1].TempMax != 17.1 || r.Daily[1].TempMin != 11.1 || r.Daily[0].Description != "slight rain" ||
		r.Daily[0].Date != "2025-03-14" {
		t.Errorf("daily = %+v", r.Daily)
	}

	r = tasktypes.WeatherResult{}
	mustRun(t, mux, "weather_data", map[string]any{"latitude": -40, "longitude": 174.8, "units": "imperial"}, &r)
	// −40/4 = −10 °C = 14 °F; three days by default.
	if r.Current.Temperature != 14 || r.Units["temperature"] != "°F" || len(r.Daily) != 3 || r.Location.Name != "" {
		t.Errorf("imperial: %+v", r)
	}

	// A transient 503 is tried again within the task.
	before := om.Requests()
	om.FailNext(1, 503, "0")
	mustRun(t, mux, "weather_data", map[string]any{"latitude": 0, "longitude": 0}, &r)
	if om.Requests()-before != 2 || r.Current.Temperature != 0 {
		t.Errorf("after a 503: %d requests, %+v", om.Requests()-before, r.Current)
	}

	_, err := runTask(t, mux, "weather_data", map[string]any{"city": "Atlantis"}, nil)
	if !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "no such place") {
		t.Errorf("unknown city: %v", err)
	}
}

func TestWeatherRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	checkRefused(t, mux, "weather_data", []refusedCase{
		{"nothing", `{}`, "payload.city"},
		{"both", `{"city":"Berlin","latitude":1,"longitude":2}`, "payload.city"},
		{"latitude alone", `{"latitude":1}`, "payload.longitude"},
		{"latitude 91", `{"latitude":91,"longitude":0}`, "payload.latitude"},
		{"longitude -181", `{"latitude":0,"longitude":-181}`, "payload.longitude"},
		{"17 days", `{"city":"Berlin","days":17}`, "payload.days"},
		{"kelvin", `{"city":"Berlin","units":"kelvin"}`, "payload.units"},
		{"long city", `{"city":"` + strings.Repeat("x", 101) + `"}`, "payload.city"},
	})
}

func TestCurrencyFromFrankfurter(t *testing.T) {
	fr := tasktypestest.StartFrankfurter(t)
	cfg := loopbackConfig()
	cfg.CurrencyBaseURL = fr.URL
	mux := testMux(t, cfg)

	var r tasktypes.CurrencyResult
	mustRun(t, mux, "currency_conversion", map[string]any{"amount": 100, "from": "usd", "to": []string{"EUR", "GBP"}}, &r)
	// From the fake's euro rates: 1/1.0877 = 0.91937…, 0.8405/1.0877 =
	// 0.77273…, to five significant digits as the ECB publishes.
	if r.From != "USD" || r.Date != "2025-03-14" || r.Rates["EUR"] != 0.91937 || r.Rates["GBP"] != 0.77273 {
		t.Errorf("rates = %+v", r)
	}
	if math.Abs(r.Converted["EUR"]-91.937) > 1e-9 || math.Abs(r.Converted["GBP"]-77.273) > 1e-9 {
		t.Errorf("converted = %v", r.Converted)
	}

	mustRun(t, mux, "currency_conversion", map[string]any{"amount": 2.5, "from": "EUR", "to": "JPY", "date": "2024-01-05"}, &r)
	if r.Date != "2024-01-05" || r.Converted["JPY"] != 402.625 {
		t.Errorf("historical: %+v", r)
	}

	// 429 with Retry-After: 0 is tried again at once.
	before := fr.Requests()
	fr.FailNext(1, 429, "0")
	mustRun(t, mux, "currency_conversion", map[string]any{"amount": 1, "from": "EUR", "to": "USD"}, &r)
	if fr.Requests()-before != 2 || r.Rates["USD"] != 1.0877 {
		t.Errorf("after a 429: %d requests, %+v", fr.Requests()-before, r)
	}

	// A currency the API does not know: its 404 is final.
	_, err := runTask(t, mux, "currency_conversion", map[string]any{"amount": 1, "from": "EUR", "to": "XYZ"}, nil)
	if !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown currency: %v", err)
	}
	// A 5xx that outlasts the tries fails the attempt, retryably.
	fr.FailNext(10, 502, "0")
	_, err = runTask(t, mux, "currency_conversion", map[string]any{"amount": 1, "from": "EUR", "to": "USD"}, nil)
	if err == nil || errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("persistent 502: %v", err)
	}
	fr.FailNext(0, 0, "")
}

func TestCurrencyRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	many := `"` + strings.Repeat(`AAA","`, 40) + `BBB"`
	checkRefused(t, mux, "currency_conversion", []refusedCase{
		{"no amount", `{"from":"USD","to":"EUR"}`, "payload.amount"},
		{"negative", `{"amount":-1,"from":"USD","to":"EUR"}`, "payload.amount"},
		{"no from", `{"amount":1,"to":"EUR"}`, "payload.from"},
		{"bad from", `{"amount":1,"from":"US","to":"EUR"}`, "payload.from"},
		{"no to", `{"amount":1,"from":"USD"}`, "payload.to"},
		{"to is from", `{"amount":1,"from":"USD","to":["EUR","usd"]}`, "payload.to[1]"},
		{"duplicate", `{"amount":1,"from":"USD","to":["EUR","EUR"]}`, "payload.to[1]"},
		{"bad to", `{"amount":1,"from":"USD","to":["E1R"]}`, "payload.to[0]"},
		{"to a number", `{"amount":1,"from":"USD","to":5}`, "payload.to"},
		{"too many", `{"amount":1,"from":"USD","to":[` + many + `]}`, "payload.to"},
		{"bad date", `{"amount":1,"from":"USD","to":"EUR","date":"2024-13-01"}`, "payload.date"},
		{"before the ECB", `{"amount":1,"from":"USD","to":"EUR","date":"1998-12-31"}`, "payload.date"},
	})
}
