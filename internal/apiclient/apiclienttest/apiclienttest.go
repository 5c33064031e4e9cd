// Package apiclienttest is the contract every platform client and every
// platform fake keeps, as a suite in the style of testing/fstest.TestFS:
// a platform's tests call TestClient with its client, and TestFake with its
// fake, and every case of the HTTP core (429 with Retry-After, 5xx,
// timeouts, body limits, redirects, bad JSON, connection reuse, the
// retry classification of transport errors) runs against it.
package apiclienttest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient"
)

// Target is a platform client under test.
type Target[C apiclient.Embedder] struct {
	// New builds a client of baseURL with opts applied after its own
	// defaults for tests (no client-side pacing: the suite measures the
	// HTTP core, and pacing is each platform's own, tested there).
	New func(baseURL string, opts ...apiclient.Option[C]) (C, error)
	// Call makes one call that decodes a JSON object answer.
	Call func(ctx context.Context, c C) error
	// OK is a successful answer to Call.
	OK string
	// TooManyRequests is the platform's body of a 429.
	TooManyRequests string
	// CredentialHeaders name the headers that carry the credentials; each
	// must reach the configured host and never another one.
	CredentialHeaders []string
	// Errors are the platform's sentinel and classification.
	Errors Errors
}

// Errors are a platform's option sentinel and its retry classification.
type Errors struct {
	// ErrInvalidOption is the platform's sentinel of invalid options.
	ErrInvalidOption error
	// IsRetryable and RetryAfter are the platform's classification.
	IsRetryable func(error) bool
	RetryAfter  func(error) (time.Duration, bool)
}

// Kind is a failure a fake can be told to answer the next call with.
type Kind int

// The failures every fake offers.
const (
	// TooManyRequests is the platform's 429 with a Retry-After of
	// FakeRetryAfter.
	TooManyRequests Kind = iota
	// ServerError is a 500.
	ServerError
	// ServiceUnavailable is a 503.
	ServiceUnavailable
	// Hang holds the answer longer than any test waits.
	Hang
)

// What a fake's failures carry: the Retry-After of TooManyRequests, and
// how long Hang holds the answer (the suite's calls give up long before;
// stopping the fake releases it).
const (
	FakeRetryAfter = 3 * time.Second
	FakeHang       = time.Minute
)

// Fake is a platform fake under test, called through the platform's client.
type Fake[C apiclient.Embedder] struct {
	// Client is the platform's client and its call; its Call must succeed
	// against a fake Start returned.
	Client Target[C]
	// Start starts the fake (stopped at the end of the test), with what
	// Client.Call needs, and returns its URL and a function that arms a
	// failure for the next call of Client.Call's endpoint.
	Start func(t *testing.T) (url string, failNext func(Kind))
}

// statusOf is the HTTP status an API error in err's chain carries; 0 when
// none does.
func statusOf(err error) int {
	if se, ok := errors.AsType[apiclient.StatusError](err); ok {
		return se.HTTPStatus()
	}
	return 0
}

// okHandler answers body with 200.
func okHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// ErrorsOf is the Errors of a platform: its ErrInvalidOption, IsRetryable
// and RetryAfter.
func ErrorsOf(errInvalidOption error, isRetryable func(error) bool, retryAfter func(error) (time.Duration, bool)) Errors {
	return Errors{ErrInvalidOption: errInvalidOption, IsRetryable: isRetryable, RetryAfter: retryAfter}
}

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
			assert.True(t, tg.Errors.IsRetryable(err), "retryable: %v", err)
			d, ok := tg.Errors.RetryAfter(err)
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
		assert.True(t, tg.Errors.IsRetryable(err), "retryable: %v", err)
		assert.NoError(t, tg.Call(context.Background(), c), "the hang was for the next call only")
	})
}

// TestRetryable checks a platform's retry decision (IsRetryable) over named
// errors that must be retryable and named errors that must not.
func TestRetryable(t *testing.T, isRetryable func(error) bool, retryable, permanent map[string]error) {
	for want, cases := range map[bool]map[string]error{true: retryable, false: permanent} {
		for name, err := range cases {
			t.Run(name, func(t *testing.T) { assert.Equal(t, want, isRetryable(err), "%v", err) })
		}
	}
}

// TestIs checks errors.Is(err, target) over named {err, target} pairs that
// must match and named pairs that must not.
func TestIs(t *testing.T, match, noMatch map[string][2]error) {
	for want, cases := range map[bool]map[string][2]error{true: match, false: noMatch} {
		for name, c := range cases {
			t.Run(name, func(t *testing.T) { assert.Equal(t, want, errors.Is(c[0], c[1]), "%v is %v", c[0], c[1]) })
		}
	}
}

// Starter is a platform fake: Start serves it and returns its URL and a
// function that stops it.
type Starter interface {
	Start() (url string, stop func())
}

// StartFake starts srv for the test, stopped at its end, and returns srv
// and its URL.
func StartFake[S Starter](t testing.TB, srv S) (S, string) {
	t.Helper()
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, url
}
