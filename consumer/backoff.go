package consumer

import (
	"math/rand/v2"
	"time"
)

// Backoff computes the delay before redelivery attempt n+1 after n failed
// attempts: exponential from Base, capped at Max, with "equal jitter" (half
// fixed, half random) so that many failing events do not return together.
// A platform hint (Retry-After) wins when it is longer, plus up to 10% jitter.
type Backoff struct {
	Base time.Duration // default 1s
	Max  time.Duration // default 5m
}

// Delay returns the wait after attempt n (n >= 1) given the platform's hint.
func (b Backoff) Delay(n uint64, hint time.Duration) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if maxd <= 0 {
		maxd = 5 * time.Minute
	}
	d := base
	for i := uint64(1); i < n && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	d = d/2 + rand.N(d/2+1)
	if hint > d {
		d = hint + rand.N(hint/10+1)
	}
	return d
}
