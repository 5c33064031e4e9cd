// Package httpcalltest has test servers for the HTTP behaviour every
// platform client shares.
package httpcalltest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Target is the server a Redirector sends its callers to, on another port
// (so another origin). It answers 200 {} and records what reaches it.
type Target struct {
	URL string

	mu      sync.Mutex
	headers []http.Header
}

// Requests are the headers of the requests that reached the target.
func (t *Target) Requests() []http.Header {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]http.Header(nil), t.headers...)
}

// CrossHostRedirect starts two servers, stopped at the end of the test: the
// returned URL answers every request with status (a 3xx, e.g. 307, which
// keeps method and body) redirecting to the same path on target.
func CrossHostRedirect(t testing.TB, status int) (redirectorURL string, target *Target) {
	t.Helper()
	target = &Target{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.mu.Lock()
		target.headers = append(target.headers, r.Header.Clone())
		target.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(ts.Close)
	target.URL = ts.URL
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ts.URL+r.URL.RequestURI(), status)
	}))
	t.Cleanup(rs.Close)
	return rs.URL, target
}
