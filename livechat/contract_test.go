package livechat_test

import (
	"context"
	"testing"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

// contract is the client as the apiclienttest suite sees it.
var contract = apiclienttest.Target[*livechat.Client]{New: newUnpaced, Call: getChatC1, CredentialHeaders: []string{"Authorization"},
	OK: `{"id":"C1"}`, TooManyRequests: `{"error":{"type":"too_many_requests","message":"Too many requests"}}`,
	Errors: apiclienttest.ErrorsOf(livechat.ErrInvalidOption, livechat.IsRetryable, livechat.RetryAfter)}

func TestClientContract(t *testing.T) { apiclienttest.TestClient(t, contract) }

func TestFakeContract(t *testing.T) {
	apiclienttest.TestFake(t, apiclienttest.Fake[*livechat.Client]{Client: contract, Start: func(t *testing.T) (string, func(apiclienttest.Kind)) {
		srv, url := newFake(t, livechattest.WithAuth("acc-1", "secret-pat"))
		srv.AddChat(livechat.Chat{ID: "C1"})
		failures := [...]livechattest.Failure{livechattest.TooManyRequests(apiclienttest.FakeRetryAfter), livechattest.ServerError(),
			livechattest.ServiceUnavailable(), livechattest.Hang(apiclienttest.FakeHang)}
		return url, func(k apiclienttest.Kind) { srv.FailNext("get_chat", 1, failures[k]) }
	}})
}

// newUnpaced is a client of url without pacing (the adaptive limiter is
// tested in ratelimit_test.go; the suite measures the HTTP core).
func newUnpaced(url string, opts ...livechat.Option) (*livechat.Client, error) {
	return livechat.New(testPAT, append([]livechat.Option{livechat.WithBaseURL(url), livechat.WithRateLimiter(nil)}, opts...)...)
}

func getChatC1(ctx context.Context, c *livechat.Client) error {
	_, err := c.GetChat(ctx, "C1", "")
	return err
}
