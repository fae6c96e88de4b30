package tasktypes

import (
	"context"
	"errors"
	"math/big"
	"testing"
)

func TestFibonacciKnownValues(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "0"}, {1, "1"}, {2, "1"}, {10, "55"}, {35, "9227465"},
		{93, "12200160415121876738"},   // the last that fits a uint64
		{94, "19740274219868223167"},   // the first on the big.Int path
		{100, "354224848179261915075"}, // a well-known value
		{300, "222232244629420445529739893461909967206666939096499764990979600"},
	} {
		got, err := Fibonacci(context.Background(), tc.n)
		if err != nil || got.String() != tc.want {
			t.Errorf("F(%d) = %v, %v; want %s", tc.n, got, err, tc.want)
		}
	}
}

// TestFibonacciMatchesIteration checks fast doubling against the plain
// recurrence for every n up to 2000, so each bit pattern of n is covered.
func TestFibonacciMatchesIteration(t *testing.T) {
	a, b := big.NewInt(0), big.NewInt(1)
	for n := 0; n <= 2000; n++ {
		got, err := Fibonacci(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(a) != 0 {
			t.Fatalf("F(%d) = %s, want %s", n, got, a)
		}
		a.Add(a, b)
		a, b = b, a
	}
}

func TestFibonacciCanceled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("stop now")
	cancel(cause)
	if _, err := Fibonacci(ctx, 1_000_000); !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the cancel cause", err)
	}
}

func TestFibonacciDigitsOfLargeN(t *testing.T) {
	// F(100000) has 20,899 decimal digits and ends in ...3428746875.
	got, err := Fibonacci(context.Background(), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	s := got.String()
	if len(s) != 20899 || s[len(s)-10:] != "3428746875" {
		t.Fatalf("F(100000): %d digits ending %s", len(s), s[len(s)-10:])
	}
}
