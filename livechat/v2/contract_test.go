package livechatv2_test

import (
	"context"
	"testing"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/livechat"
	livechatv2 "github.com/chatwarden/chatwarden/livechat/v2"
)

func TestClientContract(t *testing.T) {
	apiclienttest.TestClient(t, apiclienttest.Target[*livechatv2.Client]{
		New: func(url string, opts ...livechatv2.Option) (*livechatv2.Client, error) {
			auth := livechatv2.Basic("agent@example.com", "pat-secret")
			return livechatv2.New(auth, append([]livechatv2.Option{livechatv2.WithBaseURL(url)}, opts...)...)
		},
		Call: func(ctx context.Context, c *livechatv2.Client) error {
			_, err := c.ChatsPage(ctx, livechatv2.ChatsFilter{}, 1)
			return err
		},
		OK: `{"chats":[],"total":0,"pages":1}`, TooManyRequests: `{"error":"Too many requests"}`,
		CredentialHeaders: []string{"Authorization", "X-API-Version"},
		Errors:            apiclienttest.ErrorsOf(livechat.ErrInvalidOption, livechat.IsRetryable, livechat.RetryAfter),
	})
}
