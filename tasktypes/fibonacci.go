package tasktypes

import (
	"context"
	"math/big"
	"math/bits"
	"strconv"

	"github.com/taskmill/taskmill"
)

type fibonacciPayload struct {
	N   *int `json:"n"`
	max int
}

func (p *fibonacciPayload) check() error {
	switch {
	case p.N == nil:
		return taskmill.Invalid("payload.n", "required", "give n, the index of the Fibonacci number to compute")
	case *p.N < 0:
		return taskmill.Invalid("payload.n", "range", "must be 0 or more, got %d", *p.N)
	case *p.N > p.max:
		return taskmill.Invalid("payload.n", "range", "must be at most %d, got %d", p.max, *p.N)
	}
	return nil
}

// FibonacciResult is the result of a fibonacci task. Value is a decimal
// string because F(n) outgrows every JSON number past n = 78.
type FibonacciResult struct {
	N      int    `json:"n"`
	Value  string `json:"value"`
	Digits int    `json:"digits"`
}

func fibonacciType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name:        "fibonacci",
		Description: "Computes the n-th Fibonacci number exactly (F(0)=0, F(1)=1), as a decimal string.",
		Schema: schema(`{"type":"object","required":["n"],"additionalProperties":false,
			"properties":{"n":{"type":"integer","minimum":0,"maximum":` + strconv.Itoa(cfg.MaxFibonacciN) + `,"default":35,
			"description":"index of the Fibonacci number"}}}`),
		MaxAttempts: 1, // a pure function: a failure will not go away by retrying
	}, func(p *fibonacciPayload) { p.max = cfg.MaxFibonacciN },
		func(ctx context.Context, t *taskmill.Task, p *fibonacciPayload) (any, error) {
			v, err := Fibonacci(ctx, *p.N)
			if err != nil {
				return nil, err
			}
			s := v.String()
			return FibonacciResult{N: *p.N, Value: s, Digits: len(s)}, nil
		})
}

// Fibonacci returns F(n) by fast doubling, O(log n) big multiplications:
//
//	F(2k)   = F(k)·(2·F(k+1) − F(k))
//	F(2k+1) = F(k)² + F(k+1)²
//
// It checks ctx between steps, so a huge n stays cancellable.
func Fibonacci(ctx context.Context, n int) (*big.Int, error) {
	if n < 94 { // F(93) is the largest that fits in a uint64
		var a, b uint64 = 0, 1
		for range n {
			a, b = b, a+b
		}
		return new(big.Int).SetUint64(a), nil
	}
	a, b := big.NewInt(0), big.NewInt(1) // F(k), F(k+1) with k = 0
	t1, t2 := new(big.Int), new(big.Int)
	for i := bits.Len(uint(n)) - 1; i >= 0; i-- {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		// (a, b) = (F(2k), F(2k+1))
		t1.Lsh(b, 1).Sub(t1, a).Mul(t1, a)
		t2.Mul(a, a)
		b.Mul(b, b).Add(b, t2)
		a, t1 = t1, a
		if n>>uint(i)&1 == 1 {
			// (a, b) = (F(2k+1), F(2k+2))
			a.Add(a, b)
			a, b = b, a
		}
	}
	return a, nil
}
