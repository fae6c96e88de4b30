package tasktypestest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failures makes an API server answer its next requests with an error
// status before answering normally: for tests of retries.
type Failures struct {
	mu         sync.Mutex
	left       int
	status     int
	retryAfter string
	seen       int
}

// FailNext makes the next n requests answer status, with a Retry-After
// header when retryAfter is not "".
func (f *Failures) FailNext(n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left, f.status, f.retryAfter = n, status, retryAfter
}

// Requests returns how many requests the server has had.
func (f *Failures) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen
}

// intercept answers with the failure planned, if any, and reports it.
func (f *Failures) intercept(w http.ResponseWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen++
	if f.left == 0 {
		return false
	}
	f.left--
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	http.Error(w, `{"error":true,"reason":"planned failure"}`, f.status)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// OpenMeteo is an HTTP server answering like Open-Meteo's forecast
// (/v1/forecast) and geocoding (/v1/search) APIs, with made-up but
// deterministic weather: the current temperature is latitude/4 °C (in
// °F with temperature_unit=fahrenheit), day i's maximum is
// latitude/4 + i + 3 and minimum latitude/4 + i - 3, weather code 3
// (overcast) now and 61 (slight rain) every day. It knows the cities in
// Places.
type OpenMeteo struct {
	*httptest.Server
	Failures
	// Places are the cities the geocoding API finds, by lower-case name.
	Places map[string]Place
}

// Place is a city the fake geocoding API knows.
type Place struct {
	Name      string
	Country   string
	Latitude  float64
	Longitude float64
}

// StartOpenMeteo starts the fake with Berlin and Tokyo known.
func StartOpenMeteo(t testing.TB) *OpenMeteo {
	t.Helper()
	o := &OpenMeteo{Places: map[string]Place{
		"berlin": {"Berlin", "Germany", 52.52437, 13.41053},
		"tokyo":  {"Tokyo", "Japan", 35.6895, 139.69171},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/search", o.search)
	mux.HandleFunc("GET /v1/forecast", o.forecast)
	o.Server = httptest.NewServer(mux)
	t.Cleanup(o.Close)
	return o
}

func (o *OpenMeteo) search(w http.ResponseWriter, r *http.Request) {
	if o.intercept(w) {
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": true, "reason": "Parameter 'name' is required"})
		return
	}
	out := map[string]any{"generationtime_ms": 0.5}
	if p, ok := o.Places[strings.ToLower(name)]; ok {
		out["results"] = []map[string]any{{"id": 1, "name": p.Name, "country": p.Country,
			"latitude": p.Latitude, "longitude": p.Longitude, "timezone": "UTC"}}
	}
	writeJSON(w, http.StatusOK, out)
}

func (o *OpenMeteo) forecast(w http.ResponseWriter, r *http.Request) {
	if o.intercept(w) {
		return
	}
	q := r.URL.Query()
	lat, err1 := strconv.ParseFloat(q.Get("latitude"), 64)
	lon, err2 := strconv.ParseFloat(q.Get("longitude"), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": true,
			"reason": fmt.Sprintf("Latitude must be in range of -90 to 90°. Given: %s.", q.Get("latitude"))})
		return
	}
	days := 7
	if d := q.Get("forecast_days"); d != "" {
		if days, _ = strconv.Atoi(d); days < 1 || days > 16 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": true, "reason": "Forecast days is invalid."})
			return
		}
	}
	temp := func(c float64) float64 {
		if q.Get("temperature_unit") == "fahrenheit" {
			return math.Round((c*9/5+32)*10) / 10
		}
		return math.Round(c*10) / 10
	}
	tUnit, wUnit, pUnit := "°C", "km/h", "mm"
	if q.Get("temperature_unit") == "fahrenheit" {
		tUnit = "°F"
	}
	if q.Get("wind_speed_unit") == "mph" {
		wUnit = "mp/h"
	}
	if q.Get("precipitation_unit") == "inch" {
		pUnit = "inch"
	}
	base := lat / 4
	start := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	var dates []string
	var tmax, tmin, precip []float64
	var codes []int
	for i := range days {
		dates = append(dates, start.AddDate(0, 0, i).Format(time.DateOnly))
		tmax = append(tmax, temp(base+float64(i)+3))
		tmin = append(tmin, temp(base+float64(i)-3))
		precip = append(precip, 1.5)
		codes = append(codes, 61)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"latitude": lat, "longitude": lon, "generationtime_ms": 0.1, "utc_offset_seconds": 0,
		"timezone": "GMT", "timezone_abbreviation": "GMT", "elevation": 38.0,
		"current_units": map[string]string{"time": "iso8601", "interval": "seconds", "temperature_2m": tUnit,
			"relative_humidity_2m": "%", "precipitation": pUnit, "weather_code": "wmo code", "wind_speed_10m": wUnit},
		"current": map[string]any{"time": "2025-03-14T12:00", "interval": 900, "temperature_2m": temp(base),
			"relative_humidity_2m": 71, "precipitation": 0.0, "weather_code": 3, "wind_speed_10m": 11.2},
		"daily_units": map[string]string{"time": "iso8601", "weather_code": "wmo code", "temperature_2m_max": tUnit,
			"temperature_2m_min": tUnit, "precipitation_sum": pUnit},
		"daily": map[string]any{"time": dates, "weather_code": codes, "temperature_2m_max": tmax,
			"temperature_2m_min": tmin, "precipitation_sum": precip},
	})
}

// Frankfurter is an HTTP server answering like the Frankfurter v1 API
// (GET /latest and /YYYY-MM-DD with base and symbols), from a fixed
// table of euro reference rates dated Date; other bases are crossed
// through the euro, rounded to 5 significant digits as the ECB publishes.
type Frankfurter struct {
	*httptest.Server
	Failures
	Date     string
	EURRates map[string]float64
}

// StartFrankfurter starts the fake. Its URL is the API's base: use
// f.URL as the currency base URL.
func StartFrankfurter(t testing.TB) *Frankfurter {
	t.Helper()
	f := &Frankfurter{Date: "2025-03-14", EURRates: map[string]float64{
		"USD": 1.0877, "GBP": 0.8405, "JPY": 161.05, "CHF": 0.9581, "SEK": 11.04,
	}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.rates))
	t.Cleanup(f.Close)
	return f
}

func (f *Frankfurter) rate(base, sym string) (float64, bool) {
	in := func(c string) (float64, bool) {
		if c == "EUR" {
			return 1, true
		}
		v, ok := f.EURRates[c]
		return v, ok
	}
	b, ok1 := in(base)
	s, ok2 := in(sym)
	if !ok1 || !ok2 {
		return 0, false
	}
	v := s / b
	mag := math.Pow(10, 4-math.Floor(math.Log10(v)))
	return math.Round(v*mag) / mag, true
}

func (f *Frankfurter) rates(w http.ResponseWriter, r *http.Request) {
	if f.intercept(w) {
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	date := f.Date
	switch {
	case path == "latest":
	case len(path) == 10 && path[4] == '-' && path[7] == '-':
		if _, err := time.Parse(time.DateOnly, path); err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
			return
		}
		date = path
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
		return
	}
	q := r.URL.Query()
	base := strings.ToUpper(q.Get("base"))
	if base == "" {
		base = "EUR"
	}
	if _, ok := f.rate(base, base); !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
		return
	}
	var symbols []string
	if s := q.Get("symbols"); s != "" {
		symbols = strings.Split(strings.ToUpper(s), ",")
	} else {
		symbols = append(symbols, "EUR")
		for c := range f.EURRates {
			symbols = append(symbols, c)
		}
	}
	out := map[string]float64{}
	for _, s := range symbols {
		if s == base {
			continue
		}
		v, ok := f.rate(base, s)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
			return
		}
		out[s] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{"amount": 1.0, "base": base, "date": date, "rates": out})
}
