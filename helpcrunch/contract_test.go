package helpcrunch_test

import (
	"context"
	"testing"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
)

func TestClientContract(t *testing.T) { apiclienttest.TestClient(t, contract) }

// contract is the client as the apiclienttest suite sees it: without the
// client-side rate limit (tested in client_test.go).
var contract = apiclienttest.Target[*helpcrunch.Client]{
	New: func(url string, opts ...helpcrunch.Option) (*helpcrunch.Client, error) {
		return helpcrunch.New(testKey, append([]helpcrunch.Option{helpcrunch.WithBaseURL(url), helpcrunch.WithRateLimit(0)}, opts...)...)
	},
	Call: func(ctx context.Context, c *helpcrunch.Client) error { _, err := c.GetChat(ctx, 1); return err },
	OK:   `{"id":1}`, CredentialHeaders: []string{"Authorization"},
	TooManyRequests: `{"errors":[{"code":"invalid_request","message":"Too many requests"},` +
		`{"code":"too_many_requests","message":"Too many requests"}]}`,
	Errors: apiclienttest.ErrorsOf(helpcrunch.ErrInvalidOption, helpcrunch.IsRetryable, helpcrunch.RetryAfter),
}

func TestFakeContract(t *testing.T) {
	start := func(t *testing.T) (string, func(apiclienttest.Kind)) {
		srv, url := newFake(t, helpcrunchtest.WithAPIKey(testKey))
		srv.AddChat(helpcrunch.Chat{ID: 1})
		failures := map[apiclienttest.Kind]helpcrunchtest.Failure{
			apiclienttest.TooManyRequests: helpcrunchtest.TooManyRequests(apiclienttest.FakeRetryAfter),
			apiclienttest.ServerError:     helpcrunchtest.ServerError(), apiclienttest.Hang: helpcrunchtest.Hang(apiclienttest.FakeHang),
			apiclienttest.ServiceUnavailable: helpcrunchtest.ServiceUnavailable(),
		}
		return url, func(k apiclienttest.Kind) { srv.FailNext(helpcrunchtest.EndpointGetChat, 1, failures[k]) }
	}
	apiclienttest.TestFake(t, apiclienttest.Fake[*helpcrunch.Client]{Client: contract, Start: start})
}
