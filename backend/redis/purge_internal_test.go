package redis

import (
	"reflect"
	"testing"
)

func TestMergeDue(t *testing.T) {
	const until = 100
	for _, tc := range []struct {
		name  string
		heads []dueHead
		r     int
		take  []purgeTake
		reach int64
		more  bool
	}{
		{"nothing due", nil, 10, nil, until, false},
		{"all a queue showed", []dueHead{{queue: "a", fts: []int64{1, 2, 3}}}, 10,
			[]purgeTake{{"a", 3, until}}, until, false},
		{"exactly r", []dueHead{{queue: "a", fts: []int64{1, 2, 3}}}, 3,
			[]purgeTake{{"a", 3, until}}, until, false},
		{"oldest over queues, up to r",
			[]dueHead{{queue: "a", fts: []int64{1, 4, 5}}, {queue: "b", fts: []int64{2, 3, 6}}}, 4,
			[]purgeTake{{"a", 2, until}, {"b", 2, until}}, 5, true},
		// a showed 3 and may have more; b's 5 and 6 wait for a round that
		// knows a's entries past 4, but a goes on up to b's 5.
		{"a full head leads up to what others showed",
			[]dueHead{{queue: "a", fts: []int64{1, 2, 4}, full: true}, {queue: "b", fts: []int64{3, 5, 6}}}, 10,
			[]purgeTake{{"a", 9, 5}, {"b", 1, until}}, 5, true},
		{"equal times at the horizon",
			[]dueHead{{queue: "a", fts: []int64{1, 4}, full: true}, {queue: "b", fts: []int64{4, 7}}}, 10,
			[]purgeTake{{"a", 9, 7}, {"b", 1, until}}, 7, true},
		{"a backlog in one queue of many",
			[]dueHead{{queue: "a", fts: []int64{1, 2, 3}, full: true}, {queue: "b", fts: []int64{10}}, {queue: "c", fts: []int64{11}}}, 10,
			[]purgeTake{{"a", 10, 10}}, 10, true},
		{"a lone backlog goes on to until",
			[]dueHead{{queue: "a", fts: []int64{1, 2, 3}, full: true}}, 10,
			[]purgeTake{{"a", 10, until}}, until, true},
		{"two full heads: the one that reaches less leads",
			[]dueHead{{queue: "a", fts: []int64{1, 2, 3}, full: true}, {queue: "b", fts: []int64{2, 5, 9}, full: true}}, 10,
			[]purgeTake{{"a", 9, 5}, {"b", 1, until}}, 5, true},
		{"r reached at the horizon: no lead",
			[]dueHead{{queue: "a", fts: []int64{1, 2, 3}, full: true}, {queue: "b", fts: []int64{1, 2}}}, 5,
			[]purgeTake{{"a", 3, until}, {"b", 2, until}}, 4, true},
		{"r reached before the horizon",
			[]dueHead{{queue: "a", fts: []int64{1, 2, 3}, full: true}, {queue: "b", fts: []int64{1, 2}}}, 3,
			[]purgeTake{{"a", 2, until}, {"b", 1, until}}, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			take, reach, more := mergeDue(tc.heads, tc.r, until)
			if !reflect.DeepEqual(take, tc.take) || reach != tc.reach || more != tc.more {
				t.Fatalf("mergeDue = %v, %d, %v; want %v, %d, %v", take, reach, more, tc.take, tc.reach, tc.more)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	for _, tc := range []struct {
		name            string
		oldest, reached int64
		used, r         int
		cutoff, want    int64
	}{
		// 100 entries in 1000 µs: 1,000 more (and a quarter) in 12,500.
		{"at the rate so far", 0, 1000, 100, 1000, 1 << 40, 1000 + 12500},
		{"at least as far again", 0, 1000, 5000, 1000, 1 << 40, 2000},
		{"at most 64 times as far", 0, 1000, 1, 1000, 1 << 40, 1000 + 64000},
		{"never past the cutoff", 0, 1000, 100, 1000, 5000, 5000},
	} {
		if got := window(tc.oldest, tc.reached, tc.used, tc.r, tc.cutoff); got != tc.want {
			t.Errorf("%s: window = %d, want %d", tc.name, got, tc.want)
		}
	}
}
