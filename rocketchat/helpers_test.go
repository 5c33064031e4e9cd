package rocketchat_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

var testAuth = rocketchat.Auth{UserID: "bot-user-id", Token: "secret-pat-token"}

func newFake(t *testing.T, opts ...rocketchattest.Option) (*rocketchattest.Server, string) {
	t.Helper()
	srv := rocketchattest.New(opts...)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, url
}

func newClient(t *testing.T, url string, opts ...rocketchat.Option) *rocketchat.Client {
	t.Helper()
	c, err := rocketchat.New(url, testAuth, opts...)
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

// wireServer records every request and answers with answer (nil: 200
// {"success":true}).
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
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	t.Cleanup(ts.Close)
	return ts.URL, func() []wireRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]wireRequest(nil), reqs...)
	}
}
