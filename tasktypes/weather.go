package tasktypes

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

// weather_data speaks Open-Meteo's forecast API (https://open-meteo.com,
// GET /v1/forecast) and, for a city name, its geocoding API (GET
// /v1/search). Both base URLs are configurable, so a self-hosted
// Open-Meteo or a test server can stand in.

type weatherPayload struct {
	City      string   `json:"city,omitempty"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	Days      *int     `json:"days,omitempty"`
	Units     string   `json:"units,omitempty"`
}

func (p *weatherPayload) check() error {
	hasCoords := p.Latitude != nil || p.Longitude != nil
	switch {
	case p.City == "" && !hasCoords:
		return taskmill.Invalid("payload.city", "required", "give a city, or latitude and longitude")
	case p.City != "" && hasCoords:
		return taskmill.Invalid("payload.city", "conflict", "give a city or latitude and longitude, not both")
	case p.City != "" && (utf8.RuneCountInString(p.City) > 100 || strings.TrimSpace(p.City) == ""):
		return taskmill.Invalid("payload.city", "length", "must be 1 to 100 characters")
	case hasCoords && p.Latitude == nil:
		return taskmill.Invalid("payload.latitude", "required", "give latitude with longitude")
	case hasCoords && p.Longitude == nil:
		return taskmill.Invalid("payload.longitude", "required", "give longitude with latitude")
	case hasCoords && (*p.Latitude < -90 || *p.Latitude > 90):
		return taskmill.Invalid("payload.latitude", "range", "must be between -90 and 90, got %g", *p.Latitude)
	case hasCoords && (*p.Longitude < -180 || *p.Longitude > 180):
		return taskmill.Invalid("payload.longitude", "range", "must be between -180 and 180, got %g", *p.Longitude)
	case p.Days != nil && (*p.Days < 1 || *p.Days > 16):
		return taskmill.Invalid("payload.days", "range", "must be between 1 and 16, got %d", *p.Days)
	}
	switch p.Units {
	case "":
		p.Units = "metric"
	case "metric", "imperial":
	default:
		return taskmill.Invalid("payload.units", "enum", "must be metric or imperial, not %q", p.Units)
	}
	if p.Days == nil {
		d := 3
		p.Days = &d
	}
	return nil
}

// WeatherResult is the result of a weather_data task.
type WeatherResult struct {
	Location WeatherLocation   `json:"location"`
	Units    map[string]string `json:"units"`
	Current  WeatherNow        `json:"current"`
	Daily    []WeatherDay      `json:"daily"`
	Source   string            `json:"source"`
}

// WeatherLocation is where the forecast is for.
type WeatherLocation struct {
	Name      string  `json:"name,omitempty"`
	Country   string  `json:"country,omitempty"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Elevation float64 `json:"elevation"`
	Timezone  string  `json:"timezone"`
}

// WeatherNow is the current conditions.
type WeatherNow struct {
	Time          string  `json:"time"`
	Temperature   float64 `json:"temperature"`
	Humidity      float64 `json:"relative_humidity"`
	WindSpeed     float64 `json:"wind_speed"`
	WeatherCode   int     `json:"weather_code"`
	Description   string  `json:"description"`
	Precipitation float64 `json:"precipitation"`
}

// WeatherDay is one day of the forecast.
type WeatherDay struct {
	Date          string  `json:"date"`
	TempMax       float64 `json:"temperature_max"`
	TempMin       float64 `json:"temperature_min"`
	Precipitation float64 `json:"precipitation_sum"`
	WeatherCode   int     `json:"weather_code"`
	Description   string  `json:"description"`
}

// openMeteoForecast is the part of Open-Meteo's answer we read.
type openMeteoForecast struct {
	Latitude     float64           `json:"latitude"`
	Longitude    float64           `json:"longitude"`
	Elevation    float64           `json:"elevation"`
	Timezone     string            `json:"timezone"`
	CurrentUnits map[string]string `json:"current_units"`
	Current      struct {
		Time          string  `json:"time"`
		Temperature   float64 `json:"temperature_2m"`
		Humidity      float64 `json:"relative_humidity_2m"`
		WindSpeed     float64 `json:"wind_speed_10m"`
		Precipitation float64 `json:"precipitation"`
		WeatherCode   int     `json:"weather_code"`
	} `json:"current"`
	DailyUnits map[string]string `json:"daily_units"`
	Daily      struct {
		Time          []string  `json:"time"`
		TempMax       []float64 `json:"temperature_2m_max"`
		TempMin       []float64 `json:"temperature_2m_min"`
		Precipitation []float64 `json:"precipitation_sum"`
		WeatherCode   []int     `json:"weather_code"`
	} `json:"daily"`
}

type openMeteoPlaces struct {
	Results []struct {
		Name      string  `json:"name"`
		Country   string  `json:"country"`
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
	} `json:"results"`
}

// openMeteoError is the body of Open-Meteo's 4xx answers.
type openMeteoError struct {
	Error  bool   `json:"error"`
	Reason string `json:"reason"`
}

func weatherType(cfg Config, policy *netPolicy) taskmill.TaskType {
	f := newFetcher(cfg, policy, true, "point weather_data at Open-Meteo-compatible services with serve --weather-base-url URL and --geocoding-base-url URL (see docs/task-types.md)")
	return define(taskmill.TaskType{
		Name: "weather_data",
		Description: "Fetches current conditions and a daily forecast from an Open-Meteo forecast API (" + cfg.WeatherBaseURL +
			"), for a city (found with Open-Meteo geocoding) or for coordinates.",
		Schema: schema(`{"type":"object","additionalProperties":false,"properties":{
			"city":{"type":"string","minLength":1,"maxLength":100,"default":"Berlin","description":"place name, looked up with Open-Meteo geocoding; or give latitude and longitude"},
			"latitude":{"type":"number","minimum":-90,"maximum":90,"description":"WGS84 latitude in degrees"},
			"longitude":{"type":"number","minimum":-180,"maximum":180,"description":"WGS84 longitude in degrees"},
			"days":{"type":"integer","minimum":1,"maximum":16,"default":3,"description":"days of daily forecast"},
			"units":{"type":"string","enum":["metric","imperial"],"default":"metric","description":"°C, km/h, mm or °F, mph, inch"}},
			"oneOf":[{"required":["city"]},{"required":["latitude","longitude"]}]}`),
		Timeout: f.taskTimeout(2), // a geocoding request, then the forecast
	}, nil, func(ctx context.Context, t *taskmill.Task, p *weatherPayload) (any, error) {
		out := WeatherResult{Source: "Open-Meteo (" + cfg.WeatherBaseURL + ")"}
		lat, lon := 0.0, 0.0
		if p.City != "" {
			q := url.Values{"name": {p.City}, "count": {"1"}, "language": {"en"}, "format": {"json"}}
			var places openMeteoPlaces
			if err := getJSON(ctx, t, f, cfg.GeocodingBaseURL+"/v1/search?"+q.Encode(), &places); err != nil {
				return nil, fmt.Errorf("geocode %q: %w", p.City, err)
			}
			if len(places.Results) == 0 {
				return nil, taskmill.SkipRetry(fmt.Errorf("geocode %q: no such place", p.City))
			}
			pl := places.Results[0]
			lat, lon = pl.Latitude, pl.Longitude
			out.Location.Name, out.Location.Country = pl.Name, pl.Country
			_ = t.ReportProgress(ctx, 40, fmt.Sprintf("found %s, %s", pl.Name, pl.Country))
		} else {
			lat, lon = *p.Latitude, *p.Longitude
		}
		q := url.Values{
			"latitude":      {strconv.FormatFloat(lat, 'f', -1, 64)},
			"longitude":     {strconv.FormatFloat(lon, 'f', -1, 64)},
			"current":       {"temperature_2m,relative_humidity_2m,precipitation,weather_code,wind_speed_10m"},
			"daily":         {"weather_code,temperature_2m_max,temperature_2m_min,precipitation_sum"},
			"timezone":      {"auto"},
			"forecast_days": {strconv.Itoa(*p.Days)},
		}
		if p.Units == "imperial" {
			q.Set("temperature_unit", "fahrenheit")
			q.Set("wind_speed_unit", "mph")
			q.Set("precipitation_unit", "inch")
		}
		var fc openMeteoForecast
		if err := getJSON(ctx, t, f, cfg.WeatherBaseURL+"/v1/forecast?"+q.Encode(), &fc); err != nil {
			return nil, fmt.Errorf("forecast for %g,%g: %w", lat, lon, err)
		}
		d := fc.Daily
		if len(d.TempMax) != len(d.Time) || len(d.TempMin) != len(d.Time) || len(d.Precipitation) != len(d.Time) || len(d.WeatherCode) != len(d.Time) {
			return nil, fmt.Errorf("forecast for %g,%g: the daily series differ in length", lat, lon)
		}
		out.Location.Latitude, out.Location.Longitude = fc.Latitude, fc.Longitude
		out.Location.Elevation, out.Location.Timezone = fc.Elevation, fc.Timezone
		out.Units = map[string]string{
			"temperature":   fc.CurrentUnits["temperature_2m"],
			"wind_speed":    fc.CurrentUnits["wind_speed_10m"],
			"precipitation": fc.DailyUnits["precipitation_sum"],
		}
		c := fc.Current
		out.Current = WeatherNow{Time: c.Time, Temperature: c.Temperature, Humidity: c.Humidity, WindSpeed: c.WindSpeed,
			Precipitation: c.Precipitation, WeatherCode: c.WeatherCode, Description: wmoWeather(c.WeatherCode)}
		out.Daily = make([]WeatherDay, len(d.Time))
		for i := range d.Time {
			out.Daily[i] = WeatherDay{Date: d.Time[i], TempMax: d.TempMax[i], TempMin: d.TempMin[i],
				Precipitation: d.Precipitation[i], WeatherCode: d.WeatherCode[i], Description: wmoWeather(d.WeatherCode[i])}
		}
		_ = t.ReportProgress(ctx, 100, fmt.Sprintf("%d days of forecast", len(out.Daily)))
		return out, nil
	})
}

// getJSON GETs an API URL and decodes a 200 answer into v. A 4xx other
// than 408 and 429 fails without retry, with the API's reason when it
// gives one: the same question will get the same answer.
func getJSON(ctx context.Context, t *taskmill.Task, f *fetcher, rawURL string, v any) error {
	res, err := f.do(ctx, t, true, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err == nil {
			req.Header.Set("Accept", "application/json")
			req.Header.Set("User-Agent", "taskmill/1")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		reason := apiReason(res.Body)
		err := fmt.Errorf("HTTP %d from %s: %s", res.Status, res.FinalURL, reason)
		if res.Status >= 400 && res.Status < 500 {
			return taskmill.SkipRetry(err)
		}
		return err
	}
	if res.Truncated {
		return fmt.Errorf("answer from %s is larger than %d bytes", res.FinalURL, len(res.Body))
	}
	if err := json.Unmarshal(res.Body, v); err != nil {
		return fmt.Errorf("answer from %s is not the expected JSON: %w", res.FinalURL, err)
	}
	return nil
}

// apiReason pulls a human message out of an API error body: Open-Meteo's
// {"reason"} or Frankfurter's {"message"}, else the body's start.
func apiReason(body []byte) string {
	var e struct {
		openMeteoError
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Reason != "" {
			return e.Reason
		}
		if e.Message != "" {
			return e.Message
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if !utf8.ValidString(s) || s == "" {
		return "no reason given"
	}
	return s
}

// wmoWeather describes a WMO weather interpretation code (WMO 4677, the
// subset Open-Meteo reports).
func wmoWeather(code int) string {
	switch code {
	case 0:
		return "clear sky"
	case 1:
		return "mainly clear"
	case 2:
		return "partly cloudy"
	case 3:
		return "overcast"
	case 45:
		return "fog"
	case 48:
		return "depositing rime fog"
	case 51, 53, 55:
		return [...]string{"light", "moderate", "dense"}[(code-51)/2] + " drizzle"
	case 56, 57:
		return [...]string{"light", "dense"}[code-56] + " freezing drizzle"
	case 61, 63, 65:
		return [...]string{"slight", "moderate", "heavy"}[(code-61)/2] + " rain"
	case 66, 67:
		return [...]string{"light", "heavy"}[code-66] + " freezing rain"
	case 71, 73, 75:
		return [...]string{"slight", "moderate", "heavy"}[(code-71)/2] + " snowfall"
	case 77:
		return "snow grains"
	case 80, 81, 82:
		return [...]string{"slight", "moderate", "violent"}[code-80] + " rain showers"
	case 85, 86:
		return [...]string{"slight", "heavy"}[code-85] + " snow showers"
	case 95:
		return "thunderstorm"
	case 96, 99:
		return [...]string{"thunderstorm with slight hail", "thunderstorm with heavy hail"}[(code-96)/3]
	}
	return "unknown (WMO code " + strconv.Itoa(code) + ")"
}
