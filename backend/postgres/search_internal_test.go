package postgres

import "testing"

func TestSearchKey(t *testing.T) {
	cases := []struct{ q, want string }{
		{`"customer":"c4242"`, "c4242"},              // the run with a digit, not the key name
		{"0190a1b2-7c3d-7e4f", "0190a1b2-7c3d-7e4f"}, // an id stays whole
		{"fibonacci", "fibonacci"},
		{`{"email":"ann@example.com"}`, "ann@example.com"},
		{"ab", "ab"}, // too short for any run: the query itself
		{`"n": 7`, `"n": 7`},
	}
	for _, c := range cases {
		if got := searchKey(c.q); got != c.want {
			t.Errorf("searchKey(%q) = %q, want %q", c.q, got, c.want)
		}
	}
}
