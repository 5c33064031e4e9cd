package apiclienttest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient"
)

// TestFake runs the contract of a platform fake through the platform's
// client: the fake answers the call, and each failure it can be armed with
// reaches the client as the real API's would (status, Retry-After, the
// retry decision), for the next call only.
func TestFake[C apiclient.Embedder](t *testing.T, f Fake[C]) {
	tg := f.Client
	t.Run("answers", func(t *testing.T) {
		url, _ := f.Start(t)
		c := client(t, tg, url)
		require.NoError(t, tg.Call(context.Background(), c))
		require.NoError(t, tg.Call(context.Background(), c), "twice")
	})
	tests := []struct {
		name      string
		kind      Kind
		status    int
		wantAfter time.Duration
	}{
		{"429 with Retry-After", TooManyRequests, http.StatusTooManyRequests, FakeRetryAfter},
		{"500", ServerError, http.StatusInternalServerError, 0},
		{"503", ServiceUnavailable, http.StatusServiceUnavailable, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, failNext := f.Start(t)
			c := client(t, tg, url)
			failNext(tc.kind)
			err := tg.Call(context.Background(), c)
			require.Error(t, err)
			assert.Equal(t, tc.status, statusOf(err), "status: %v", err)
			assert.True(t, tg.IsRetryable(err), "retryable: %v", err)
			d, ok := tg.RetryAfter(err)
			assert.Equal(t, tc.wantAfter > 0, ok, "a Retry-After hint: %v", err)
			// Rocket.Chat's reset is in milliseconds from the fake's clock.
			assert.InDelta(t, tc.wantAfter, d, float64(500*time.Millisecond))
			assert.NoError(t, tg.Call(context.Background(), c), "the failure was for the next call only")
		})
	}
	t.Run("hang past the deadline", func(t *testing.T) {
		url, failNext := f.Start(t)
		c := client(t, tg, url)
		failNext(Hang)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := tg.Call(ctx, c)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 10*time.Second, "bounded by the caller's deadline (generous for CI)")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, tg.IsRetryable(err), "retryable: %v", err)
		assert.NoError(t, tg.Call(context.Background(), c), "the hang was for the next call only")
	})
}
