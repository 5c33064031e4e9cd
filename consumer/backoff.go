package consumer

import (
	"math/rand/v2"
	"time"

	"github.com/chatwarden/chatwarden/config"
)

// Backoff computes the delay before redelivery attempt n+1 after n failed
// attempts: exponential from Base, capped at Max, with "equal jitter" (half
// fixed, half random) so that many failing events do not return together.
// A platform hint (Retry-After) wins when it is longer, plus up to 10% jitter.
type Backoff struct {
	Base time.Duration // default 1s, workers.backoff_base's
	Max  time.Duration // default 5m, workers.backoff_max's
}

// withDefaults sets a Base or Max not positive to its default, the
// configuration's.
func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = config.DefaultBackoffBase
	}
	if b.Max <= 0 {
		b.Max = config.DefaultBackoffMax
	}
	return b
}

// Delay returns the wait after attempt n (n >= 1) given the platform's hint.
func (b Backoff) Delay(n uint64, hint time.Duration) time.Duration {
	b = b.withDefaults()
	base, maxd := b.Base, b.Max
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
