package tasktypes

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
)

// currency_conversion speaks the Frankfurter v1 API
// (https://frankfurter.dev), which serves the European Central Bank's
// daily reference rates: GET {base}/latest?base=USD&symbols=EUR,GBP or
// {base}/YYYY-MM-DD?… for a past working day, answering
// {"amount":1.0,"base":"USD","date":"2024-11-25","rates":{"EUR":0.95,…}}.

type currencyPayload struct {
	Amount *float64        `json:"amount"`
	From   string          `json:"from"`
	RawTo  json.RawMessage `json:"to"`
	Date   string          `json:"date,omitempty"`
	To     []string        `json:"-"` // RawTo as a list: "EUR" or ["EUR","GBP"]
}

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func (p *currencyPayload) check() error {
	switch {
	case p.Amount == nil:
		return taskmill.Invalid("payload.amount", "required", "give the amount to convert")
	case *p.Amount < 0 || *p.Amount > 1e15:
		return taskmill.Invalid("payload.amount", "range", "must be between 0 and 1e15, got %g", *p.Amount)
	case p.From == "":
		return taskmill.Invalid("payload.from", "required", "give from, an ISO 4217 currency code such as USD")
	}
	p.From = strings.ToUpper(p.From)
	if !validCurrency(p.From) {
		return taskmill.Invalid("payload.from", "format", "must be a three-letter ISO 4217 code such as USD, not %q", p.From)
	}
	var one string
	switch {
	case len(p.RawTo) == 0 || string(p.RawTo) == "null":
	case json.Unmarshal(p.RawTo, &one) == nil:
		p.To = []string{one}
	case json.Unmarshal(p.RawTo, &p.To) != nil:
		return taskmill.Invalid("payload.to", "type", "must be a currency code or a list of codes")
	}
	if len(p.To) == 0 {
		return taskmill.Invalid("payload.to", "required", "give to, a currency code or a list of up to 40")
	}
	if len(p.To) > 40 {
		return taskmill.Invalid("payload.to", "count", "has %d currencies; the limit is 40", len(p.To))
	}
	seen := map[string]bool{}
	for i, c := range p.To {
		c = strings.ToUpper(c)
		field := "payload.to[" + strconv.Itoa(i) + "]"
		switch {
		case !validCurrency(c):
			return taskmill.Invalid(field, "format", "must be a three-letter ISO 4217 code such as EUR, not %q", p.To[i])
		case c == p.From:
			return taskmill.Invalid(field, "conflict", "is the currency converted from")
		case seen[c]:
			return taskmill.Invalid(field, "duplicate", "%s is listed twice", c)
		}
		seen[c] = true
		p.To[i] = c
	}
	if p.Date != "" {
		d, err := time.Parse(time.DateOnly, p.Date)
		if err != nil {
			return taskmill.Invalid("payload.date", "format", "must be a date as YYYY-MM-DD, not %q", p.Date)
		}
		if d.Before(time.Date(1999, 1, 4, 0, 0, 0, 0, time.UTC)) || d.After(time.Now().UTC().Add(24*time.Hour)) {
			return taskmill.Invalid("payload.date", "range", "must be between 1999-01-04 (the first ECB rates) and today")
		}
	}
	return nil
}

// CurrencyResult is the result of a currency_conversion task. Rates are
// units of each target per one unit of From; Converted is Amount × rate,
// rounded to 4 decimal places.
type CurrencyResult struct {
	Amount    float64            `json:"amount"`
	From      string             `json:"from"`
	Date      string             `json:"date"`
	Rates     map[string]float64 `json:"rates"`
	Converted map[string]float64 `json:"converted"`
	Source    string             `json:"source"`
}

type frankfurterRates struct {
	Amount float64            `json:"amount"`
	Base   string             `json:"base"`
	Date   string             `json:"date"`
	Rates  map[string]float64 `json:"rates"`
}

func currencyType(cfg Config, policy *netPolicy) taskmill.TaskType {
	f := newFetcher(cfg, policy, true, "point currency_conversion at a Frankfurter-compatible service with serve --currency-base-url URL (see docs/task-types.md)")
	return define(taskmill.TaskType{
		Name: "currency_conversion",
		Description: "Converts an amount between currencies at the European Central Bank's reference rates, " +
			"from a Frankfurter API (" + cfg.CurrencyBaseURL + "); latest rates, or those of a past date.",
		Schema: schema(`{"type":"object","required":["amount","from","to"],"additionalProperties":false,"properties":{
			"amount":{"type":"number","minimum":0,"maximum":1e15,"default":100,"description":"amount in the from currency"},
			"from":{"type":"string","pattern":"^[A-Za-z]{3}$","default":"USD","description":"ISO 4217 code to convert from"},
			"to":{"anyOf":[{"type":"string","pattern":"^[A-Za-z]{3}$"},{"type":"array","items":{"type":"string","pattern":"^[A-Za-z]{3}$"},"minItems":1,"maxItems":40,"uniqueItems":true}],
				"default":["EUR","GBP"],"description":"ISO 4217 code, or list of codes, to convert to"},
			"date":{"type":"string","format":"date","description":"rates of this day (YYYY-MM-DD, from 1999-01-04); default the latest"}}}`),
		Timeout: f.taskTimeout(1),
	}, nil, func(ctx context.Context, t *taskmill.Task, p *currencyPayload) (any, error) {
		path := "/latest"
		if p.Date != "" {
			path = "/" + p.Date
		}
		q := url.Values{"base": {p.From}, "symbols": {strings.Join(p.To, ",")}}
		var fr frankfurterRates
		if err := getJSON(ctx, t, f, strings.TrimSuffix(cfg.CurrencyBaseURL, "/")+path+"?"+q.Encode(), &fr); err != nil {
			return nil, fmt.Errorf("rates for %s: %w", p.From, err)
		}
		if fr.Base != p.From {
			return nil, fmt.Errorf("rates for %s: the API answered for base %q", p.From, fr.Base)
		}
		amountOfRates := fr.Amount
		if amountOfRates == 0 {
			amountOfRates = 1
		}
		out := CurrencyResult{Amount: *p.Amount, From: p.From, Date: fr.Date, Rates: map[string]float64{},
			Converted: map[string]float64{}, Source: "European Central Bank via Frankfurter (" + cfg.CurrencyBaseURL + ")"}
		var missing []string
		for _, c := range p.To {
			r, ok := fr.Rates[c]
			if !ok || r <= 0 {
				missing = append(missing, c)
				continue
			}
			rate := r / amountOfRates
			out.Rates[c] = rate
			out.Converted[c] = math.Round(*p.Amount*rate*1e4) / 1e4
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, taskmill.SkipRetry(fmt.Errorf("rates for %s: no rate for %s on %s", p.From, strings.Join(missing, ", "), fr.Date))
		}
		_ = t.ReportProgress(ctx, 100, fmt.Sprintf("rates of %s", fr.Date))
		return out, nil
	})
}
