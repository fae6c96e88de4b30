package taskmill_test

import (
	"testing"
	"time"

	"github.com/taskmill/taskmill"
)

func TestCronNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ spec, from, want string }{
		{"* * * * *", "2026-03-01 10:15", "2026-03-01 10:16"},
		{"*/15 * * * *", "2026-03-01 10:15", "2026-03-01 10:30"},
		{"*/15 * * * *", "2026-03-01 10:59", "2026-03-01 11:00"},
		{"5/20 * * * *", "2026-03-01 10:06", "2026-03-01 10:25"},
		{"0 3 * * *", "2026-03-01 10:15", "2026-03-02 03:00"},
		{"30 9 * * mon-fri", "2026-11-20 09:30", "2026-11-23 09:30"}, // Friday → Monday
		{"0 0 * * 7", "2026-11-22 00:00", "2026-11-29 00:00"},        // 7 is Sunday
		{"0 0 1 jan,jul *", "2026-03-01 00:00", "2026-07-01 00:00"},
		{"0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"},    // the next leap day
		{"0 12 13 * fri", "2026-11-10 00:00", "2026-11-13 12:00"}, // either day field: 13th or a Friday
		{"0 12 13 * fri", "2026-11-13 12:00", "2026-11-20 12:00"}, // the next Friday comes first
		{"0 0 */2 * mon", "2026-11-24 00:00", "2026-12-07 00:00"}, // a starred day field: odd-dated Mondays only
		{"0 0 1-7 * */3", "2026-11-22 00:00", "2026-12-02 00:00"}, // first week and Sun/Wed/Sat: both must match
		{"@hourly", "2026-03-01 10:15", "2026-03-01 11:00"},
		{"@daily", "2026-12-31 23:59", "2027-01-01 00:00"},
		{"@weekly", "2026-11-22 10:00", "2026-11-29 00:00"},
		{"0-10/5 8,20 * * *", "2026-03-01 08:10", "2026-03-01 20:00"},
	} {
		spec, err := taskmill.ParseCron(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got := spec.Next(at(tc.from)); !got.Equal(at(tc.want)) {
			t.Errorf("%q after %s = %s, want %s", tc.spec, tc.from, got.Format("2006-01-02 15:04 Mon"), tc.want)
		}
	}
}

func TestCronNeverFires(t *testing.T) {
	spec, err := taskmill.ParseCron("0 0 31 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.Next(time.Now()); !got.IsZero() {
		t.Fatalf("Feb 31 fires at %s", got)
	}
}

func TestCronEveryIsAlignedToTheEpoch(t *testing.T) {
	spec, err := taskmill.ParseCron("@every 10s")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	if got := spec.Next(from); !got.Equal(from.Add(7 * time.Second)) {
		t.Fatalf("@every 10s after :03 = %s", got)
	}
}

func TestCronRefusesBadSpecs(t *testing.T) {
	for _, bad := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/x * * * *", "a * * * *", "@often", "@every 1ms", "@every soon", "1,,2 * * * *"} {
		if _, err := taskmill.ParseCron(bad); err == nil {
			t.Errorf("ParseCron(%q) accepted", bad)
		}
	}
}

// FuzzParseCron: the parser never panics, and any accepted spec's Next is
// after its argument (or zero for a schedule that never fires).
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 * jan mon", "@every 1m", "@daily", "0 0 29 2 *", "1-2/3,4 * ? * sun-sat"} {
		f.Add(s)
	}
	from := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := taskmill.ParseCron(s)
		if err != nil {
			return
		}
		if next := spec.Next(from); !next.IsZero() && !next.After(from) {
			t.Fatalf("%q: Next(%s) = %s", s, from, next)
		}
	})
}
