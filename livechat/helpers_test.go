package livechat_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

var testPAT = livechat.PAT("acc-1", "secret-pat")

// newFake starts the fake API for the test.
func newFake(t *testing.T, opts ...livechattest.Option) (*livechattest.Server, string) {
	return apiclienttest.StartFake(t, livechattest.New(opts...))
}

// newClient returns a client of url.
func newClient(t *testing.T, url string, auth livechat.Auth, opts ...livechat.Option) *livechat.Client {
	t.Helper()
	c, err := livechat.New(auth, append([]livechat.Option{livechat.WithBaseURL(url)}, opts...)...)
	require.NoError(t, err)
	return c
}

// wireRequest is a request as a wireServer saw it.
type wireRequest = httpcalltest.Request

// wireServer records every request and answers with answer (nil: 200 with no body),
// for exact wire checks.
func wireServer(t *testing.T, answer http.HandlerFunc) (url string, requests func() []wireRequest) {
	return httpcalltest.Record(t, answer, ``)
}
