package livechatv2_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/httpcall"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
	livechatv2 "github.com/chatwarden/chatwarden/livechat/v2"
)

// A redirect to another host is refused before the credentials reach it,
// whatever HTTP client the caller gives.
func TestClientRefusesRedirectsToAnotherHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []livechatv2.Option
	}{
		{"default client", nil},
		{"given client", []livechatv2.Option{livechatv2.WithHTTPClient(&http.Client{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, target := httpcalltest.CrossHostRedirect(t, http.StatusFound)
			c, err := livechatv2.New(livechatv2.Basic("agent@example.com", "pat-secret"),
				append([]livechatv2.Option{livechatv2.WithBaseURL(from)}, tc.opts...)...)
			require.NoError(t, err)
			_, err = c.ChatsPage(context.Background(), livechatv2.ChatsFilter{}, 1)
			require.Error(t, err)
			assert.ErrorIs(t, err, httpcall.ErrCrossHostRedirect)
			assert.Contains(t, err.Error(), target.URL)
			assert.Empty(t, target.Requests(), "the other host never sees the request nor its Basic credentials")
		})
	}
}
