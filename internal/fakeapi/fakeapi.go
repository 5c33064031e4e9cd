// Package fakeapi is the core the in-memory platform fakes share
// (livechattest, helpcrunchtest, rocketchattest): the call log, failures
// armed for the next calls of an endpoint, answers held back (a fake's Hang
// and WithLatency) until the client or the server gives up, and serving on
// an httptest server. Each fake keeps its own call type, failure type, error
// envelopes and rate limit. It does not import "testing".
package fakeapi

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// StatusAborted is recorded for a call whose client went away (or whose
// server was stopped) while its answer was held. Nothing is answered then:
// the connection is dropped.
const StatusAborted = 499

// MaxBody is the most of a request body a fake reads; ReadBody reads one
// byte more, so that a fake can tell a body that is too large.
const MaxBody = 1 << 20

// Shape tells a Log how to read a fake's call type C. Every field is
// required.
type Shape[C any] struct {
	// Endpoint names the call's endpoint, as FailNext and CallsTo take it.
	Endpoint func(*C) string
	// Status points at the call's answered status.
	Status func(*C) *int
	// Clone copies a call for a caller (maps and slices it must not share).
	Clone func(C) C
}

// Log records the calls of type C a fake receives and hands out the
// failures of type F armed for them. A Log is safe for concurrent use.
type Log[C, F any] struct {
	shape    Shape[C]
	stopCh   chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	calls    []C
	seqs     []uint64 // seqs[i] identifies calls[i] for Finish
	failures []*armed[F]
	seq      uint64
}

type armed[F any] struct {
	endpoint string
	left     int
	f        F
}

// Ticket identifies a recorded call for Finish, Answer and Abort.
type Ticket struct {
	idx int
	seq uint64
}

// NewLog returns an empty log for calls of the given shape.
func NewLog[C, F any](shape Shape[C]) *Log[C, F] {
	if shape.Endpoint == nil || shape.Status == nil || shape.Clone == nil {
		panic("fakeapi: NewLog needs Endpoint, Status and Clone")
	}
	return &Log[C, F]{shape: shape, stopCh: make(chan struct{})}
}

// Start serves h on a new httptest server and returns its base URL and a
// function that stops it. Stopping releases the calls held by Wait first,
// then closes the server. Call Start at most once per Log.
func (l *Log[C, F]) Start(h http.Handler) (url string, stop func()) {
	ts := httptest.NewServer(h)
	return ts.URL, func() {
		l.stopOnce.Do(func() { close(l.stopCh) })
		ts.Close()
	}
}

// Wait holds a call for d and reports true, or reports false as soon as the
// request's context ends or the server stops (the call is then to be
// aborted). d <= 0 returns true at once.
func (l *Log[C, F]) Wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-l.stopCh:
		return false
	}
}

// FailNext arms f for the next n calls of endpoint ("" matches every
// endpoint); n <= 0 arms nothing. Armed failures are taken in the order they
// were armed: a call takes the first that matches it and has calls left.
func (l *Log[C, F]) FailNext(endpoint string, n int, f F) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, &armed[F]{endpoint: endpoint, left: n, f: f})
}

// Record appends call to the log and takes the failure armed for its
// endpoint, if any (ok reports whether one was).
func (l *Log[C, F]) Record(call C) (t Ticket, f F, ok bool) {
	endpoint := l.shape.Endpoint(&call)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	t = Ticket{idx: len(l.calls), seq: l.seq}
	l.calls = append(l.calls, call)
	l.seqs = append(l.seqs, l.seq)
	for i, a := range l.failures {
		if a.endpoint == "" || a.endpoint == endpoint {
			a.left--
			if a.left == 0 {
				l.failures = append(l.failures[:i:i], l.failures[i+1:]...)
			}
			return t, a.f, true
		}
	}
	return t, f, false
}

// Finish records the status answered to the call of t. A call forgotten
// meanwhile (ResetCalls, Reset) is left alone.
func (l *Log[C, F]) Finish(t Ticket, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.idx < len(l.calls) && l.seqs[t.idx] == t.seq {
		*l.shape.Status(&l.calls[t.idx]) = status
	}
}

// Answer records status for the call of t, then writes the answer: header
// entries added to the response's, Retry-After in whole seconds (rounded
// up) when retryAfter is positive, Content-Type application/json when there
// is a body and header sets no type. The status is recorded first, so a
// client holding its answer also sees it in Calls.
func (l *Log[C, F]) Answer(w http.ResponseWriter, t Ticket, status int, header http.Header, body []byte, retryAfter time.Duration) {
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	if len(body) > 0 && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	l.Finish(t, status)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Abort records StatusAborted for the call of t and drops the connection
// instead of answering (it panics with http.ErrAbortHandler, which net/http
// handles silently). It does not return.
func (l *Log[C, F]) Abort(t Ticket) {
	l.Finish(t, StatusAborted)
	panic(http.ErrAbortHandler)
}

// Calls returns copies of every call recorded, in order of arrival.
func (l *Log[C, F]) Calls() []C {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]C, len(l.calls))
	for i, c := range l.calls {
		out[i] = l.shape.Clone(c)
	}
	return out
}

// CallsTo returns copies of the calls of endpoint, in order of arrival.
func (l *Log[C, F]) CallsTo(endpoint string) []C {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []C
	for i := range l.calls {
		if l.shape.Endpoint(&l.calls[i]) == endpoint {
			out = append(out, l.shape.Clone(l.calls[i]))
		}
	}
	return out
}

// ResetCalls forgets the recorded calls; armed failures stay.
func (l *Log[C, F]) ResetCalls() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls, l.seqs = nil, nil
}

// Reset forgets the recorded calls and the armed failures.
func (l *Log[C, F]) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls, l.seqs, l.failures = nil, nil, nil
}

// ReadBody reads r's body, up to MaxBody+1 bytes.
func ReadBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
}

// Headers copies the named request headers that were sent.
func Headers(r *http.Request, names ...string) http.Header {
	h := make(http.Header, len(names))
	for _, name := range names {
		if v := r.Header.Values(name); len(v) > 0 {
			h[http.CanonicalHeaderKey(name)] = append([]string(nil), v...)
		}
	}
	return h
}

// Recorder is what a fake shows its tests of its Log: Start, FailNext,
// Calls, CallsTo and ResetCalls. A fake's Server embeds the Recorder of its
// Log, so that these are the fake's own methods without a copy in each
// fake. Endpoints are named as the fake names them (livechattest: the
// action).
type Recorder[C, F any] struct {
	log *Log[C, F]
	h   http.Handler
}

// Recorder returns l's Recorder for the fake h.
func (l *Log[C, F]) Recorder(h http.Handler) Recorder[C, F] { return Recorder[C, F]{l, h} }

// Start serves the fake on a new httptest server and returns its base URL
// (for the client's base URL) and a function that stops it, releasing the
// calls held by Hang or WithLatency. Call Start at most once per fake.
func (r Recorder[C, F]) Start() (url string, stop func()) { return r.log.Start(r.h) }

// FailNext arms f for the next n calls of endpoint ("" matches every
// endpoint); n <= 0 arms nothing. A call takes the first armed failure that
// matches it and has calls left.
func (r Recorder[C, F]) FailNext(endpoint string, n int, f F) { r.log.FailNext(endpoint, n, f) }

// Calls returns every call received so far, in order of arrival.
func (r Recorder[C, F]) Calls() []C { return r.log.Calls() }

// CallsTo returns the calls of one endpoint, in order of arrival.
func (r Recorder[C, F]) CallsTo(endpoint string) []C { return r.log.CallsTo(endpoint) }

// ResetCalls forgets the recorded calls only; armed failures stay.
func (r Recorder[C, F]) ResetCalls() { r.log.ResetCalls() }

// Apply applies the non-nil options opts to the fake s and returns s.
func Apply[S any, O ~func(*S)](s *S, opts []O) *S {
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s
}

// ClonePtr is a pointer to a copy of *p, nil for nil: for a fake's copies of
// the structs it stores, so that callers never share them.
func ClonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
