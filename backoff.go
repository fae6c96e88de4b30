package taskmill

import (
	"math/rand/v2"
	"time"
)

// ExponentialBackoff returns a BackoffFunc that waits base·2^(n-2) before
// attempt n, capped at max, with "equal jitter": a random point in the
// upper half of that interval, so that tasks failing together spread out.
func ExponentialBackoff(base, max time.Duration) BackoffFunc {
	return func(attempt int, _ error) time.Duration {
		if attempt < 2 {
			attempt = 2
		}
		d := base
		for i := 2; i < attempt && d < max; i++ {
			d *= 2
		}
		if d > max || d <= 0 {
			d = max
		}
		half := d / 2
		return half + time.Duration(rand.Int64N(int64(half)+1))
	}
}

// DefaultBackoff waits about 1s, 2s, 4s, … between attempts, at most 10 minutes.
var DefaultBackoff = ExponentialBackoff(time.Second, 10*time.Minute)
