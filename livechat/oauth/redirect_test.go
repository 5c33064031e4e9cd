package oauth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/httpcall"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
	"github.com/chatwarden/chatwarden/livechat/oauth"
)

// The token endpoint gets the client secret and the refresh token: a
// redirect to another host is refused before they are sent there.
func TestTokenEndpointRefusesRedirectsToAnotherHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []oauth.Option
	}{
		{"default client", nil},
		{"given client", []oauth.Option{oauth.WithHTTPClient(&http.Client{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, target := httpcalltest.CrossHostRedirect(t, http.StatusTemporaryRedirect)
			src := newSource(t, from, newClock(), oauth.NewMemoryStore(), tc.opts...)
			_, err := src.Token(context.Background())
			require.Error(t, err)
			assert.ErrorIs(t, err, httpcall.ErrCrossHostRedirect)
			assert.Contains(t, err.Error(), target.URL)
			assert.Empty(t, target.Requests(), "the other host never sees the client secret nor the refresh token")

			// An API client through Transport gets a permanent error.
			api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("the API must not be called without a token")
			}))
			t.Cleanup(api.Close)
			resp, err := oauth.Client(src, nil).Get(api.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
			assert.Contains(t, string(body), "refused a redirect")
		})
	}
}

// Transport adds the access token to every request it sends, redirected
// ones included: Client refuses a redirect to another host first.
func TestClientRefusesRedirectsToAnotherHost(t *testing.T) {
	clk := newClock()
	_, accounts := startAccounts(t, clk)
	src := newSource(t, accounts, clk, oauth.NewMemoryStore())
	from, target := httpcalltest.CrossHostRedirect(t, http.StatusTemporaryRedirect)

	resp, err := oauth.Client(src, &http.Client{}).Get(from + "/v3.6/agent/action/get_chat")
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, httpcall.ErrCrossHostRedirect)
	assert.Empty(t, target.Requests(), "the other host never sees the access token")
}
