package taskmill

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// CronSpec is a parsed schedule: a five-field cron expression (minute,
// hour, day of month, month, day of week) or a fixed interval. Build one
// with ParseCron.
type CronSpec struct {
	text  string
	every time.Duration // > 0 for "@every"; the fields are unused then

	minute, hour, dom, month, dow uint64 // bit i set: value i allowed
	domStar, dowStar              bool   // the field starts with "*" (or "?"), as Vixie cron tests it
}

// String returns the spec as it was written.
func (c *CronSpec) String() string { return c.text }

// cronField describes one of the five fields.
type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dayNames    = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	cronFields  = [5]cronField{{"minute", 0, 59, nil}, {"hour", 0, 23, nil}, {"day of month", 1, 31, nil}, {"month", 1, 12, monthNames}, {"day of week", 0, 7, dayNames}}
	cronAliases = map[string]string{"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
		"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
)

// ParseCron parses a schedule:
//
//   - five fields "minute hour day-of-month month day-of-week", each a "*",
//     a value, a range "a-b", a list "a,b,c", or a step "*/n" or "a-b/n";
//     months and days may be named (jan, mon); Sunday is 0 or 7. As in Vixie
//     cron, when both day fields are restricted a day matching either
//     one runs, and when either starts with "*" a day must match both;
//   - "@hourly", "@daily" (or "@midnight"), "@weekly", "@monthly",
//     "@yearly" (or "@annually");
//   - "@every D" with a Go duration of at least one second ("@every 30s").
func ParseCron(spec string) (*CronSpec, error) {
	text := strings.TrimSpace(spec)
	lower := strings.ToLower(text)
	if rest, ok := strings.CutPrefix(lower, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("cron %q: @every needs a duration like 30s or 5m: %v", spec, err)
		}
		if d < time.Second {
			return nil, fmt.Errorf("cron %q: @every must be at least 1s", spec)
		}
		return &CronSpec{text: text, every: d}, nil
	}
	if alias, ok := cronAliases[lower]; ok {
		lower = alias
	} else if strings.HasPrefix(lower, "@") {
		return nil, fmt.Errorf("cron %q: unknown shorthand; use @hourly, @daily, @weekly, @monthly, @yearly or @every D", spec)
	}
	parts := strings.Fields(lower)
	if len(parts) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, len(parts))
	}
	c := &CronSpec{text: text}
	dst := [5]*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, part := range parts {
		set, err := parseCronField(part, cronFields[i])
		if err != nil {
			return nil, fmt.Errorf("cron %q: %s field %q: %v", spec, cronFields[i].name, part, err)
		}
		*dst[i] = set
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	c.domStar = strings.HasPrefix(parts[2], "*") || strings.HasPrefix(parts[2], "?")
	c.dowStar = strings.HasPrefix(parts[4], "*") || strings.HasPrefix(parts[4], "?")
	return c, nil
}

func parseCronField(s string, f cronField) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max {
				return 0, fmt.Errorf("step %q must be a number from 1 to %d", stepText, f.max)
			}
			step = n
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(a, f); err != nil {
				return 0, err
			}
			if hi, err = cronValue(b, f); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %s runs backwards", rng)
			}
		default:
			v, err := cronValue(rng, f)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep { // "5/15" means from 5 to the end, every 15
				hi = f.max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func cronValue(s string, f cronField) (int, error) {
	if v, ok := f.names[s]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < f.min || v > f.max {
		return 0, fmt.Errorf("%q is not a value from %d to %d", s, f.min, f.max)
	}
	return v, nil
}

// Next returns the first time strictly after t that the schedule fires,
// in t's location, or the zero time when it never does (say, "0 0 31 2 *").
// An @every schedule fires at whole multiples of its interval since the
// Unix epoch, so every process computes the same firing times.
func (c *CronSpec) Next(t time.Time) time.Time {
	if c.every > 0 {
		n := t.UnixNano()/int64(c.every) + 1
		return time.Unix(0, n*int64(c.every)).In(t.Location())
	}
	loc := t.Location()
	t = t.Truncate(time.Minute).Add(time.Minute)
	// Five years covers every leap-day schedule; beyond that it never fires.
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			if !next.After(t) { // a DST fold repeats the hour; step past it
				next = t.Add(time.Hour).Truncate(time.Hour)
			}
			t = next
			continue
		}
		if c.minute&(1<<uint(t.Minute())) == 0 {
			// Jump to the next allowed minute in this hour, if any.
			rest := c.minute >> uint(t.Minute()+1)
			if rest == 0 {
				t = t.Add(time.Duration(60-t.Minute()) * time.Minute)
			} else {
				t = t.Add(time.Duration(bits.TrailingZeros64(rest)+1) * time.Minute)
			}
			continue
		}
		return t
	}
	return time.Time{}
}

func (c *CronSpec) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	// Vixie cron: when either day field starts with "*" both must match
	// ("*/2 … mon" is an odd-dated Monday); when both are restricted,
	// either may ("13 … fri" is the 13th or a Friday).
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}
