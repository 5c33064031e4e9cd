package breaker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Set holds the breakers of a process, one per platform and organization
// (the credentials a call uses: a LiveChat organization, the HelpCrunch
// account, the Rocket.Chat server). It is safe for concurrent use.
//
// Each state change is logged (WARN on opening, INFO on closing, with the
// platform, the organization and the last error), counted in the
// transitions metric and shown by the state gauge (0 closed, 1 half-open, 2
// open); the functions given to OnClose run after a breaker closes.
type Set struct {
	settings    Settings
	logger      *zap.Logger
	clock       Clock
	state       *prometheus.GaugeVec   // platform, org
	transitions *prometheus.CounterVec // platform, org, state
	onClose     []func(platform, org string)

	mu sync.Mutex
	m  map[key]*entry
}

type key struct{ platform, org string }

type entry struct {
	b       *Breaker
	since   time.Time // of the current state; guarded by Set.mu
	lastErr string    // of the last opening; guarded by Set.mu
}

// SetOption configures NewSet.
type SetOption func(*Set)

// WithLogger sets the logger of state changes (default: discard).
func WithLogger(l *zap.Logger) SetOption { return func(s *Set) { s.logger = l } }

// WithMetrics sets the gauge (labels platform, org) and the counter of
// changes (labels platform, org, state) to keep current. Default: none.
func WithMetrics(state *prometheus.GaugeVec, transitions *prometheus.CounterVec) SetOption {
	return func(s *Set) { s.state, s.transitions = state, transitions }
}

// WithSetClock sets the clock of every breaker (default: the system's).
func WithSetClock(c Clock) SetOption { return func(s *Set) { s.clock = c } }

// OnClose adds f, called (in its own goroutine) after a breaker closes.
func OnClose(f func(platform, org string)) SetOption {
	return func(s *Set) { s.onClose = append(s.onClose, f) }
}

// NewSet returns an empty set whose breakers use settings.
func NewSet(settings Settings, opts ...SetOption) *Set {
	s := &Set{settings: settings, logger: zap.NewNop(), clock: realClock{}, m: map[key]*entry{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Get returns the breaker of platform and org, creating it closed. Callers
// name breakers after configured credentials only, so the metric's labels
// stay bounded.
func (s *Set) Get(platform, org string) *Breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key{platform, org}
	if e, ok := s.m[k]; ok {
		return e.b
	}
	e := &entry{since: s.clock.Now()}
	e.b = New(platform+"/"+org, s.settings, WithClock(s.clock), OnChange(func(c Change) { s.changed(k, e, c) }))
	s.m[k] = e
	if s.state != nil {
		s.state.WithLabelValues(platform, org).Set(float64(Closed))
	}
	return e.b
}

func (s *Set) changed(k key, e *entry, c Change) {
	s.mu.Lock()
	e.since = s.clock.Now()
	if c.Cause != nil {
		e.lastErr = c.Cause.Error()
	}
	s.mu.Unlock()
	if s.state != nil {
		s.state.WithLabelValues(k.platform, k.org).Set(float64(c.To))
		s.transitions.WithLabelValues(k.platform, k.org, c.To.String()).Inc()
	}
	log := s.logger.With(zap.String("platform", k.platform), zap.String("org", k.org), zap.String("from", c.From.String()))
	switch c.To {
	case Open:
		if c.From == HalfOpen {
			log.Info("platform API still unavailable: the probe call failed; circuit breaker open again",
				zap.NamedError("last_error", c.Cause))
			return
		}
		log.Warn("platform API unavailable: circuit breaker open; its events wait (their attempts are not spent) and one probe call per interval checks it",
			zap.NamedError("last_error", c.Cause))
	case HalfOpen:
		log.Info("circuit breaker half-open: one probe call checks the platform API")
	case Closed:
		log.Info("platform API answers again: circuit breaker closed; waiting events go on in order")
		for _, f := range s.onClose {
			go f(k.platform, k.org)
		}
	}
}

// Status is a breaker's state, for the console and the admin API.
type Status struct {
	Platform  string    `json:"platform"`
	Org       string    `json:"org"`
	State     string    `json:"state"` // closed, half_open, open
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"` // of the last opening
}

// Statuses lists every breaker, by platform and org.
func (s *Set) Statuses() []Status {
	s.mu.Lock()
	out := make([]Status, 0, len(s.m))
	for k, e := range s.m {
		out = append(out, Status{Platform: k.platform, Org: k.org, State: e.b.State().String(), Since: e.since, LastError: e.lastErr})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return cmp.Or(cmp.Compare(a.Platform, b.Platform), cmp.Compare(a.Org, b.Org)) })
	return out
}

// Client returns a copy of hc whose calls go through the breaker of
// platform and org (see Transport).
func (s *Set) Client(platform, org string, hc *http.Client) *http.Client {
	c := *hc
	c.Transport = s.Transport(platform, org, hc.Transport)
	return &c
}

// Transport wraps next (nil: http.DefaultTransport) with the breaker of
// platform and org. Outage failures are transport errors (connection
// refused or reset, timeouts, DNS) and 5xx answers; any other answer,
// including 4xx and 429, shows the API is up. A call whose context was
// cancelled by its caller counts for nothing. While the breaker is open,
// RoundTrip returns an *OpenError without calling; a call whose own outage
// failure leaves the breaker open returns one too (its 5xx body closed),
// so that its caller waits rather than spends an attempt.
func (s *Set) Transport(platform, org string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{b: s.Get(platform, org), next: next}
}

type transport struct {
	b    *Breaker
	next http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	done, err := t.b.Admit()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		if errors.Is(req.Context().Err(), context.Canceled) {
			_ = done(Ignored, err)
			return nil, err
		}
		if oe := done(Failure, err); oe != nil {
			return nil, oe
		}
		return nil, err
	case resp.StatusCode >= 500:
		cause := fmt.Errorf("HTTP %d from %s", resp.StatusCode, req.URL.Host)
		if oe := done(Failure, cause); oe != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			return nil, oe
		}
		return resp, nil
	}
	_ = done(Success, nil)
	return resp, nil
}
