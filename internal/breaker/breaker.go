// Package breaker is the circuit breaker in front of each platform API (and
// each organization with its own credentials): when the API fails by
// outage (connection errors, timeouts, 5xx answers) often enough, the
// breaker opens and calls wait instead of failing, one probe call per
// interval checks the API, and when it answers the waiting calls go again.
//
// sony/gobreaker was considered: it has no wake-up for waiting callers (its
// open state turns half-open lazily on the next call, so every waiter would
// have to poll, and all of them would try at once) and no backoff between
// probes, both of which chatwarden needs so that events wait without
// spending attempts and without a burst of failed calls at every probe.
//
// States: closed (calls go; outcomes are counted), open (calls wait; after
// the probe interval the oldest waiter is woken to make the one probe call),
// half-open (the probe call is out; others wait). A probe that succeeds
// closes the breaker and wakes every waiter; one that fails opens it again
// with the next probe after twice the previous interval, up to a cap.
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/config"
)

// State is a breaker's state.
type State int

// The states, in the order of the metric's values.
const (
	Closed   State = iota // calls go
	HalfOpen              // one probe call is out
	Open                  // calls wait
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Defaults of Settings: those of the breaker section of the configuration,
// which are written in one place, package config.
const (
	DefaultWindow        = config.DefaultBreakerWindow
	DefaultMinCalls      = config.DefaultBreakerMinCalls
	DefaultFailureRatio  = config.DefaultBreakerFailureRatio
	DefaultConsecutive   = config.DefaultBreakerConsecutive
	DefaultProbeInterval = config.DefaultBreakerProbeInterval
	DefaultProbeMax      = config.DefaultBreakerProbeMax
)

// Settings say when a breaker opens and how often it probes. Zero fields
// take their defaults.
type Settings struct {
	// Window is how far back outcomes count (in ten buckets). Default 30s.
	Window time.Duration
	// MinCalls is how many calls the window must hold before FailureRatio
	// can open the breaker. Default 5.
	MinCalls int
	// FailureRatio opens the breaker when at least this share of the
	// window's calls failed by outage. Default 0.5.
	FailureRatio float64
	// Consecutive opens the breaker after this many outage failures in a
	// row, however slowly they came. Default 5.
	Consecutive int
	// ProbeInterval is the wait before the first probe; each failed probe
	// doubles it, up to ProbeMax. Defaults 5s and 1m.
	ProbeInterval, ProbeMax time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.MinCalls <= 0 {
		s.MinCalls = DefaultMinCalls
	}
	if s.FailureRatio <= 0 {
		s.FailureRatio = DefaultFailureRatio
	}
	if s.Consecutive <= 0 {
		s.Consecutive = DefaultConsecutive
	}
	if s.ProbeInterval <= 0 {
		s.ProbeInterval = DefaultProbeInterval
	}
	if s.ProbeMax < s.ProbeInterval {
		s.ProbeMax = max(DefaultProbeMax, s.ProbeInterval)
	}
	return s
}

// Clock is the time a breaker runs on; tests use a fake one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func())
}

type realClock struct{}

func (realClock) Now() time.Time                      { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// ErrOpen is matched (errors.Is) by every *OpenError.
var ErrOpen = errors.New("circuit breaker open")

// OpenError is returned for a call that must wait: the breaker is open (or
// its probe is out), or the call's own outage failure left it open. The
// caller waits for Ready and tries again; the attempt is not a failure of
// its own.
type OpenError struct {
	Name  string // the breaker: "<platform>/<org>"
	Cause error  // the last outage failure seen, if any
	ready <-chan struct{}
}

func (e *OpenError) Error() string {
	msg := e.Name + ": platform unavailable (circuit breaker open), waiting for it to answer"
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the cause, so its classification stays reachable.
func (e *OpenError) Unwrap() error { return e.Cause }

// Is matches ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// Ready is closed when the caller should try again: the breaker closed, or
// it is this caller's turn to make the probe call.
func (e *OpenError) Ready() <-chan struct{} { return e.ready }

// Change is a state change, for OnChange.
type Change struct {
	Name     string
	From, To State
	Cause    error // the last outage failure (on opening), or nil
}

// Breaker is one circuit breaker. It is safe for concurrent use.
type Breaker struct {
	name     string
	set      Settings
	clock    Clock
	onChange func(Change)

	mu       sync.Mutex
	state    State
	buckets  [10]bucket
	streak   int           // outage failures in a row
	interval time.Duration // current probe interval
	lastErr  error
	waiters  []chan struct{}
	due      bool // open: the probe time came; the next caller probes
	gen      int  // counts openings, so a stale timer does nothing
}

type bucket struct {
	start           time.Time
	calls, failures int
}

// Option configures New.
type Option func(*Breaker)

// WithClock sets the clock (default: the system's).
func WithClock(c Clock) Option { return func(b *Breaker) { b.clock = c } }

// OnChange calls f after each state change, outside the breaker's lock.
func OnChange(f func(Change)) Option { return func(b *Breaker) { b.onChange = f } }

// New returns a closed breaker named name.
func New(name string, s Settings, opts ...Option) *Breaker {
	b := &Breaker{name: name, set: s.withDefaults(), clock: realClock{}, onChange: func(Change) {}}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Name is the breaker's name.
func (b *Breaker) Name() string { return b.name }

// State is the breaker's state now.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Outcome is what became of an admitted call.
type Outcome int

// Outcomes: Success (the API answered, whatever it said, except a 5xx),
// Failure (an outage: connection error, timeout, 5xx), Ignored (the caller
// gave up; says nothing about the API).
const (
	Success Outcome = iota
	Failure
	Ignored
)

// Admit asks whether a call may go now. If so it returns done, to be called
// once with the call's outcome and error; done returns an *OpenError when
// the call failed by outage and the breaker is (now) open, so that the
// caller waits instead of counting a failure. If the call may not go,
// Admit returns an *OpenError whose Ready says when to ask again.
func (b *Breaker) Admit() (done func(Outcome, error) error, err error) {
	b.mu.Lock()
	switch b.state {
	case Closed:
		b.mu.Unlock()
		return b.closedDone, nil
	case Open:
		if b.due {
			// The probe time came: the first caller since (the waiter
			// woken for it, or a new one) makes the probe call.
			done := b.probe()
			b.mu.Unlock()
			b.onChange(Change{Name: b.name, From: Open, To: HalfOpen})
			return done, nil
		}
	}
	defer b.mu.Unlock()
	return nil, b.wait()
}

// wait queues a waiter; b.mu is held.
func (b *Breaker) wait() *OpenError {
	ch := make(chan struct{})
	b.waiters = append(b.waiters, ch)
	return &OpenError{Name: b.name, Cause: b.lastErr, ready: ch}
}

// probe makes the caller the probe; b.mu is held.
func (b *Breaker) probe() func(Outcome, error) error {
	b.state, b.due = HalfOpen, false
	gen := b.gen
	var once sync.Once
	return func(o Outcome, err error) error {
		var res error
		once.Do(func() { res = b.probeDone(gen, o, err) })
		return res
	}
}

func (b *Breaker) probeDone(gen int, o Outcome, err error) error {
	b.mu.Lock()
	if gen != b.gen || b.state != HalfOpen {
		b.mu.Unlock()
		return nil
	}
	switch o {
	case Success:
		b.state = Closed
		b.streak, b.lastErr = 0, nil
		b.buckets = [10]bucket{}
		ws := b.waiters
		b.waiters = nil
		b.mu.Unlock()
		for _, w := range ws {
			close(w)
		}
		b.onChange(Change{Name: b.name, From: HalfOpen, To: Closed})
		return nil
	case Failure:
		b.lastErr = err
		b.interval = min(2*b.interval, b.set.ProbeMax)
		b.reopen()
		oe := b.wait()
		oe.Cause = err
		b.mu.Unlock()
		b.onChange(Change{Name: b.name, From: HalfOpen, To: Open, Cause: err})
		return oe
	default:
		// The probe said nothing (its caller gave up): the next waiter, or
		// the next caller, probes instead.
		b.state, b.due = Open, true
		b.wakeOne()
		b.mu.Unlock()
		b.onChange(Change{Name: b.name, From: HalfOpen, To: Open, Cause: b.lastErr})
		return nil
	}
}

// closedDone records an outcome of a call admitted while closed.
func (b *Breaker) closedDone(o Outcome, err error) error {
	b.mu.Lock()
	if o == Ignored {
		b.mu.Unlock()
		return nil
	}
	if b.state != Closed {
		// Opened while this call was out: an outage failure waits too.
		defer b.mu.Unlock()
		if o == Failure {
			oe := b.wait()
			oe.Cause = err
			return oe
		}
		return nil
	}
	bk := b.current()
	bk.calls++
	if o == Success {
		b.streak = 0
		b.mu.Unlock()
		return nil
	}
	bk.failures++
	b.streak++
	b.lastErr = err
	calls, failures := b.counts()
	if b.streak < b.set.Consecutive && (calls < b.set.MinCalls || float64(failures) < b.set.FailureRatio*float64(calls)) {
		b.mu.Unlock()
		return nil
	}
	b.interval = b.set.ProbeInterval
	b.reopen()
	oe := b.wait()
	oe.Cause = err
	b.mu.Unlock()
	b.onChange(Change{Name: b.name, From: Closed, To: Open, Cause: err})
	return oe
}

// reopen opens the breaker and schedules the probe; b.mu is held.
func (b *Breaker) reopen() {
	b.state, b.due = Open, false
	b.gen++
	b.schedule(b.gen)
}

func (b *Breaker) schedule(gen int) {
	b.clock.AfterFunc(b.interval, func() { b.probeTime(gen) })
}

// probeTime wakes the oldest waiter to make the probe call (without one,
// the next caller makes it). If the probe is still not made one interval
// later (the woken waiter went away), it wakes the next one.
func (b *Breaker) probeTime(gen int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen || b.state != Open {
		return
	}
	b.due = true
	b.wakeOne()
	b.schedule(gen)
}

// wakeOne wakes the oldest waiter (it will find the breaker open with no
// probe scheduled, and probe); b.mu is held.
func (b *Breaker) wakeOne() {
	if len(b.waiters) > 0 {
		close(b.waiters[0])
		b.waiters = b.waiters[1:]
	}
}

// current is the bucket of now, emptied when it is from an earlier round;
// b.mu is held.
func (b *Breaker) current() *bucket {
	now := b.clock.Now()
	width := b.set.Window / time.Duration(len(b.buckets))
	slot := now.Truncate(width)
	bk := &b.buckets[int(slot.UnixNano()/int64(width))%len(b.buckets)]
	if !bk.start.Equal(slot) {
		*bk = bucket{start: slot}
	}
	return bk
}

// counts sums the buckets within the window; b.mu is held.
func (b *Breaker) counts() (calls, failures int) {
	since := b.clock.Now().Add(-b.set.Window)
	for _, bk := range b.buckets {
		if bk.start.After(since) {
			calls += bk.calls
			failures += bk.failures
		}
	}
	return calls, failures
}
