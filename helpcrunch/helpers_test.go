package helpcrunch_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
)

const testKey = "secret-api-key"

// newFake starts the fake API for the test.
func newFake(t *testing.T, opts ...helpcrunchtest.Option) (*helpcrunchtest.Server, string) {
	t.Helper()
	srv := helpcrunchtest.New(opts...)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, url
}

// newClient returns a client of url without the client-side rate limit
// unless opts set one.
func newClient(t *testing.T, url string, opts ...helpcrunch.Option) *helpcrunch.Client {
	t.Helper()
	all := append([]helpcrunch.Option{helpcrunch.WithBaseURL(url), helpcrunch.WithRateLimit(0)}, opts...)
	c, err := helpcrunch.New(testKey, all...)
	require.NoError(t, err)
	return c
}

type wireRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// wireServer records every request and answers with answer (nil: 200 "{}").
func wireServer(t *testing.T, answer http.HandlerFunc) (url string, requests func() []wireRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []wireRequest
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, wireRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(ts.Close)
	return ts.URL, func() []wireRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]wireRequest(nil), reqs...)
	}
}
