package livechat_test

import (
	"context"
	"testing"

	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

// contract is the client as the apiclienttest suite sees it: pacing off
// (the adaptive limiter is tested in ratelimit_test.go).
var contract = apiclienttest.Target[*livechat.Client]{
	New: func(url string, opts ...livechat.Option) (*livechat.Client, error) {
		return livechat.New(testPAT, append([]livechat.Option{livechat.WithBaseURL(url), livechat.WithRateLimiter(nil)}, opts...)...)
	},
	Call: func(ctx context.Context, c *livechat.Client) error {
		_, err := c.GetChat(ctx, "C1", "")
		return err
	},
	OK:                `{"id":"C1"}`,
	TooManyRequests:   `{"error":{"type":"too_many_requests","message":"Too many requests"}}`,
	CredentialHeaders: []string{"Authorization"},
	ErrInvalidOption:  livechat.ErrInvalidOption,
	IsRetryable:       livechat.IsRetryable,
	RetryAfter:        livechat.RetryAfter,
}

func TestClientContract(t *testing.T) { apiclienttest.TestClient(t, contract) }

func TestFakeContract(t *testing.T) {
	apiclienttest.TestFake(t, apiclienttest.Fake[*livechat.Client]{
		Client: contract,
		Start: func(t *testing.T) (string, func(apiclienttest.Kind)) {
			srv, url := newFake(t, livechattest.WithAuth("acc-1", "secret-pat"))
			srv.AddChat(livechat.Chat{ID: "C1"})
			return url, func(k apiclienttest.Kind) {
				srv.FailNext("get_chat", 1, [...]livechattest.Failure{
					apiclienttest.TooManyRequests:    livechattest.TooManyRequests(apiclienttest.FakeRetryAfter),
					apiclienttest.ServerError:        livechattest.ServerError(),
					apiclienttest.ServiceUnavailable: livechattest.ServiceUnavailable(),
					apiclienttest.Hang:               livechattest.Hang(apiclienttest.FakeHang),
				}[k])
			}
		},
	})
}

var _ apiclient.StatusError = (*livechat.APIError)(nil)
