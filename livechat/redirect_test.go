package livechat_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/httpcall"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
	"github.com/chatwarden/chatwarden/livechat"
)

// A redirect to another host is refused before the credentials reach it,
// whatever HTTP client the caller gives.
func TestClientRefusesRedirectsToAnotherHost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		opts   []livechat.Option
	}{
		{"307 default client", http.StatusTemporaryRedirect, nil},
		{"307 given client", http.StatusTemporaryRedirect, []livechat.Option{livechat.WithHTTPClient(&http.Client{})}},
		{"302 given client", http.StatusFound, []livechat.Option{livechat.WithHTTPClient(&http.Client{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, target := httpcalltest.CrossHostRedirect(t, tc.status)
			c := newClient(t, from, livechat.PAT("acc-1", "pat-secret"), tc.opts...)
			_, err := c.GetChat(context.Background(), "C1", "")
			require.Error(t, err)
			assert.ErrorIs(t, err, httpcall.ErrCrossHostRedirect)
			assert.Contains(t, err.Error(), target.URL, "the error names the other host")
			assert.False(t, livechat.IsRetryable(err), "permanent")
			assert.Empty(t, target.Requests(), "the other host never sees the request nor its Authorization")
		})
	}
}
