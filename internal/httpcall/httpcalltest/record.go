package httpcalltest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Request is a request as a Record server saw it, for exact wire checks.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Record starts a plain server, stopped at the end of the test, that
// records every request and answers it with answer, or, when answer is nil,
// with 200 and body (none when empty). requests returns a copy of what it
// recorded so far.
func Record(t testing.TB, answer http.HandlerFunc, body string) (url string, requests func() []Request) {
	t.Helper()
	var mu sync.Mutex
	var reqs []Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, Request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b})
		mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts.URL, func() []Request {
		mu.Lock()
		defer mu.Unlock()
		return append([]Request(nil), reqs...)
	}
}
