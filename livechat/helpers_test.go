package livechat_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

var testPAT = livechat.PAT("acc-1", "secret-pat")

// newFake starts the fake API for the test.
func newFake(t *testing.T, opts ...livechattest.Option) (*livechattest.Server, string) {
	t.Helper()
	srv := livechattest.New(opts...)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, url
}

// newClient returns a client of url.
func newClient(t *testing.T, url string, auth livechat.Auth, opts ...livechat.Option) *livechat.Client {
	t.Helper()
	c, err := livechat.New(auth, append([]livechat.Option{livechat.WithBaseURL(url)}, opts...)...)
	require.NoError(t, err)
	return c
}

// wireRequest is a request as a plain httptest server saw it.
type wireRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// wireServer starts a plain handler that records every request and answers
// with answer (nil: 200 with no body), for exact wire checks.
func wireServer(t *testing.T, answer http.HandlerFunc) (url string, requests func() []wireRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []wireRequest
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, wireRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
		mu.Unlock()
		if answer != nil {
			answer(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL, func() []wireRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]wireRequest(nil), reqs...)
	}
}
