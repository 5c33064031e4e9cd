package helpcrunch_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
)

const testKey = "secret-api-key"

// newFake starts the fake API for the test.
func newFake(t *testing.T, opts ...helpcrunchtest.Option) (*helpcrunchtest.Server, string) {
	return apiclienttest.StartFake(t, helpcrunchtest.New(opts...))
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

// wireRequest is a request as a wireServer saw it.
type wireRequest = httpcalltest.Request

// wireServer records every request and answers with answer (nil: 200 "{}"),
// for exact wire checks.
func wireServer(t *testing.T, answer http.HandlerFunc) (url string, requests func() []wireRequest) {
	return httpcalltest.Record(t, answer, `{}`)
}
