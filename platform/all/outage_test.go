package all_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/breaker"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rocketchat"
)

// openBreakerError is what a call through an open circuit breaker returns,
// wrapped as the HTTP client wraps a transport's error.
func openBreakerError(t *testing.T) error {
	t.Helper()
	b := breaker.New("livechat/default", breaker.Settings{Consecutive: 1, ProbeInterval: time.Hour})
	done, err := b.Admit()
	if err != nil {
		t.Fatal(err)
	}
	_ = done(breaker.Failure, errors.New("connection refused"))
	_, err = b.Admit()
	return fmt.Errorf("Post %q: %w", "http://api/x", err)
}

// TestOutageClassification: failures where the platform did not answer, or
// answered 5xx, are marked as outages (their dead letters are retried once
// the platform is back); answers that show it up (4xx, 429) are not; a
// breaker's wait is retryable, an outage, and makes the runner wait.
func TestOutageClassification(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name     string
		classify func(context.Context, error) error
		err      error
		outage   bool
		waits    bool
	}{
		{"livechat: connection refused", liveChatErr, fmt.Errorf("post: %w", refused), true, false},
		{"livechat: timeout", liveChatErr, context.DeadlineExceeded, true, false},
		{"livechat: 503", liveChatErr, &livechat.APIError{StatusCode: 503, Type: livechat.TypeServiceUnavailable}, true, false},
		{"livechat: 500 without envelope", liveChatErr, &livechat.APIError{StatusCode: 500}, true, false},
		{"livechat: 429 is not an outage", liveChatErr, &livechat.APIError{StatusCode: 429, Type: livechat.TypeTooManyRequests, RetryAfter: time.Second}, false, false},
		{"livechat: 422 is not an outage", liveChatErr, &livechat.APIError{StatusCode: 422, Type: livechat.TypeValidation}, false, false},
		{"helpcrunch: 502", helpCrunchErr, &helpcrunch.APIError{StatusCode: 502}, true, false},
		{"helpcrunch: 404", helpCrunchErr, &helpcrunch.APIError{StatusCode: 404}, false, false},
		{"rocketchat: connection refused", rocketChatErr, refused, true, false},
		{"rocketchat: 429", rocketChatErr, &rocketchat.APIError{StatusCode: http.StatusTooManyRequests}, false, false},
		{"breaker open", liveChatErr, openBreakerError(t), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.classify(context.Background(), tc.err)
			var oe *consumer.OutageError
			assert.Equal(t, tc.outage, errors.As(got, &oe), "outage")
			var w consumer.Waiter
			assert.Equal(t, tc.waits, errors.As(got, &w), "waits")
			if tc.waits {
				permanent, _ := consumer.Classify(got)
				assert.False(t, permanent, "a breaker's wait is never permanent")
			}
		})
	}
}
