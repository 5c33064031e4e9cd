package livechat

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces the requests of a Client. The client calls Acquire before
// every request it sends and then done with the request's outcome: nil, or
// the error the request ended with. Acquire blocks until the request may be
// sent; it returns an error (wrapping ctx's) only when ctx ends first.
//
// Every Client has its own AdaptiveLimiter unless WithRateLimiter says
// otherwise.
type Limiter interface {
	Acquire(ctx context.Context) (done func(err error), err error)
}

// Defaults of AdaptiveConfig.
const (
	DefaultMinRate     = 1.0  // requests per second
	DefaultInitialRate = 20.0 // requests per second
	DefaultDecrease    = 0.8
	DefaultIncrease    = 0.05
)

// AdaptiveConfig configures an AdaptiveLimiter. Zero fields take the
// defaults.
type AdaptiveConfig struct {
	// MaxRate is the ceiling, in requests per second; the limiter starts
	// there. Default 0: no ceiling; the limiter starts at InitialRate.
	MaxRate float64
	// InitialRate is the starting rate without a ceiling. Default 20/s; it
	// doubles every second while requests have to wait for it.
	InitialRate float64
	// MinRate is the floor the rate is never cut below. Default 1/s.
	MinRate float64
	// Decrease bounds a cut after too_many_requests: the rate never drops
	// below Decrease times what it was (except that a round of requests
	// that all got too_many_requests halves it). Default 0.8.
	Decrease float64
	// Increase is how fast the rate recovers near the limit while requests
	// have to wait for it: per second, Increase times the rate before the
	// last cut, from Decrease times that rate to 1+Increase times it.
	// Elsewhere (before the first cut too) the rate doubles every second.
	// Default 0.05.
	Increase float64
}

// LimiterStats are an AdaptiveLimiter's counters.
type LimiterStats struct {
	Requests  uint64        // requests admitted
	TooMany   uint64        // answers too_many_requests
	Decreases uint64        // times the rate was cut
	Waited    time.Duration // total time requests waited for their turn
	Rate      float64       // the current rate, requests per second
}

// AdaptiveLimiter is a Limiter that adapts to the API's rate limit, which
// LiveChat does not publish, the way TCP congestion control adapts to a
// network (slow start, then additive increase, multiplicative decrease), so
// that a client sending as fast as it can settles just under the limit
// instead of provoking storms of too_many_requests:
//
//   - Requests are spread evenly at the current rate (no bursts), starting
//     at MaxRate, or at InitialRate without a ceiling.
//   - The rate is cut when too_many_requests are more than occasional: at
//     least 3 in the last second, and at least 2% of that second's answers.
//     An API over its limit answers many; an occasional one that has nothing
//     to do with the rate (a limit elsewhere, a proxy) is left to the caller
//     to retry and does not slow every other request down.
//   - A cut goes to 90% of the rate the API accepted requests at in the
//     last half second (about its limit), but never below Decrease times
//     the current rate; and it happens at most once per round: answers to
//     requests admitted before the last cut cut nothing more, and requests
//     still waiting at a cut queue again at the new rate. A round that gets
//     too_many_requests before any success halves the rate.
//   - Successful requests that had to wait for their turn (the client is
//     rate-bound) raise the rate again: near the rate that was last cut
//     (from Decrease times it to 1+Increase times it) by Increase times that
//     rate per second, elsewhere (before any cut, far below, or past it)
//     doubling every second. A client that sends less than the rate allows
//     never raises it, so an idle worker does not "learn" a rate it never
//     tried.
//   - The rate stays within MinRate and MaxRate.
//
// It does not hold requests back for a Retry-After: the request that got
// too_many_requests is the caller's to retry (see RetryAfter); the others
// continue at the reduced rate. An AdaptiveLimiter is safe for concurrent
// use.
type AdaptiveLimiter struct {
	cfg     AdaptiveConfig
	created time.Time

	mu        sync.Mutex
	lim       *rate.Limiter
	rate      float64
	epoch     uint64  // incremented on every cut
	okInEpoch int     // successes of requests admitted in the current epoch
	lastLimit float64 // the rate last cut; 0 unknown
	ok, many  slots   // successes and too_many_requests of the last second
	stats     LimiterStats
}

// Thresholds of a cut: at least cutMinCount too_many_requests in the last
// second, at least cutMinShare of its answers. A cut goes to (1-cutMargin)
// of the accepted rate.
const (
	cutMinCount = 3
	cutMinShare = 0.02
	cutMargin   = 0.10
)

// slots count events of the last second in slotCount slots of slotLen.
type slots struct {
	n  [slotCount]int64
	id [slotCount]int64 // which slot (unix time / slotLen) each count is for
}

const (
	slotCount = 10
	slotLen   = 100 * time.Millisecond
)

func (s *slots) add(now time.Time) {
	id := now.UnixNano() / int64(slotLen)
	i := id % slotCount
	if s.id[i] != id {
		s.id[i], s.n[i] = id, 0
	}
	s.n[i]++
}

// count is the number of events in the last k slots (the current one
// included), k at most slotCount.
func (s *slots) count(now time.Time, k int64) int64 {
	id := now.UnixNano() / int64(slotLen)
	var n int64
	for i := range slotCount {
		if s.id[i] > id-k && s.id[i] <= id {
			n += s.n[i]
		}
	}
	return n
}

// span is how long the last k slots cover, the current one in part.
func span(now time.Time, k int64) time.Duration {
	return time.Duration(k-1)*slotLen + time.Duration(now.UnixNano()%int64(slotLen))
}

var _ Limiter = (*AdaptiveLimiter)(nil)

// NewAdaptiveLimiter returns a limiter configured by cfg (see AdaptiveConfig
// for the defaults). Negative values count as zero.
func NewAdaptiveLimiter(cfg AdaptiveConfig) *AdaptiveLimiter {
	def := func(v *float64, d float64) {
		if *v <= 0 || math.IsNaN(*v) || math.IsInf(*v, 0) {
			*v = d
		}
	}
	def(&cfg.MaxRate, 0)
	def(&cfg.InitialRate, DefaultInitialRate)
	def(&cfg.MinRate, DefaultMinRate)
	def(&cfg.Decrease, DefaultDecrease)
	def(&cfg.Increase, DefaultIncrease)
	if cfg.Decrease >= 1 {
		cfg.Decrease = DefaultDecrease
	}
	start := cfg.InitialRate
	if cfg.MaxRate > 0 {
		cfg.MinRate = min(cfg.MinRate, cfg.MaxRate)
		start = cfg.MaxRate
	}
	l := &AdaptiveLimiter{cfg: cfg, created: time.Now()}
	l.setRate(start)
	return l
}

// Config returns the limiter's configuration, defaults applied.
func (l *AdaptiveLimiter) Config() AdaptiveConfig { return l.cfg }

// Stats returns the limiter's counters and current rate.
func (l *AdaptiveLimiter) Stats() LimiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Rate = l.rate
	return s
}

// setRate sets the rate within MinRate and MaxRate. l.mu held (or l not
// shared yet).
func (l *AdaptiveLimiter) setRate(r float64) {
	r = max(r, l.cfg.MinRate)
	if l.cfg.MaxRate > 0 {
		r = min(r, l.cfg.MaxRate)
	}
	l.rate = r
	if l.lim == nil {
		// Burst 1: requests are spread evenly, never sent in clumps that a
		// server's own bucket would refuse.
		l.lim = rate.NewLimiter(rate.Limit(r), 1)
		return
	}
	l.lim.SetLimit(rate.Limit(r))
}

// Acquire implements Limiter.
func (l *AdaptiveLimiter) Acquire(ctx context.Context) (func(error), error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("waiting for the rate limiter: %w", err)
	}
	var waited time.Duration
	for {
		l.mu.Lock()
		epoch := l.epoch
		res := l.lim.Reserve()
		l.mu.Unlock()
		delay := res.Delay()
		if delay > 0 {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
				res.Cancel()
				return nil, fmt.Errorf("waiting for the rate limiter: %w", context.DeadlineExceeded)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				res.Cancel()
				return nil, fmt.Errorf("waiting for the rate limiter: %w", ctx.Err())
			}
			waited += delay
		}
		l.mu.Lock()
		if l.epoch == epoch || delay <= 0 {
			l.stats.Requests++
			l.stats.Waited += waited
			l.mu.Unlock()
			return l.doneFunc(epoch, waited > 0), nil
		}
		// The rate was cut while this request waited: its turn was given at
		// the old rate. Queue again at the new one.
		l.mu.Unlock()
	}
}

func (l *AdaptiveLimiter) doneFunc(epoch uint64, rateBound bool) func(error) {
	var once sync.Once
	return func(err error) { once.Do(func() { l.done(epoch, rateBound, err) }) }
}

// done adapts the rate to a request's outcome.
func (l *AdaptiveLimiter) done(epoch uint64, rateBound bool, err error) {
	tooMany := errors.Is(err, ErrTooManyRequests)
	if !tooMany && err != nil {
		return // other failures say nothing about the rate
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !tooMany {
		l.ok.add(now)
		if epoch == l.epoch {
			l.okInEpoch++
		}
		if rateBound {
			l.increase()
		}
		return
	}
	l.stats.TooMany++
	l.many.add(now)
	if epoch != l.epoch {
		return // sent before the last cut: already accounted for
	}
	if l.okInEpoch == 0 && l.stats.Decreases > 0 {
		l.cut(l.rate * 0.5) // refused again before any success: still far above
		return
	}
	many, ok := l.many.count(now, slotCount), l.ok.count(now, slotCount)
	if many < cutMinCount || float64(many) < cutMinShare*float64(many+ok) {
		return // occasional: the caller retries it
	}
	l.cut(max(l.rate*l.cfg.Decrease, min(l.accepted(now), l.rate)*(1-cutMargin)))
}

// accepted is the rate of successes in the last half second (or since the
// limiter was made, when that is shorter): recent enough not to count a
// server's burst allowance that ran out in the meantime. l.mu held.
func (l *AdaptiveLimiter) accepted(now time.Time) float64 {
	const k = slotCount / 2
	d := min(span(now, k), now.Sub(l.created))
	if d <= 0 {
		return 0
	}
	return float64(l.ok.count(now, k)) / d.Seconds()
}

// increase raises the rate after a rate-bound success. l.mu held.
func (l *AdaptiveLimiter) increase() {
	if l.cfg.MaxRate > 0 && l.rate >= l.cfg.MaxRate {
		return
	}
	step := 1.0 // per request, about rate requests a second: doubles the rate every second
	if near := l.lastLimit; near > 0 && l.rate >= near*l.cfg.Decrease && l.rate < near*(1+l.cfg.Increase) {
		// Near the rate cut last: add Increase*lastLimit per second, spread
		// over the requests of that second. Past it, the limit is elsewhere
		// (or that cut was bad luck): double again.
		step = l.cfg.Increase * near / l.rate
	}
	l.setRate(l.rate + step)
}

// cut sets a lower rate and starts a new round. l.mu held.
func (l *AdaptiveLimiter) cut(to float64) {
	l.lastLimit = l.rate
	l.epoch++
	l.okInEpoch = 0
	l.stats.Decreases++
	l.setRate(to)
}
