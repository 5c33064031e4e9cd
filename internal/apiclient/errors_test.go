package apiclient

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var errLimited = errors.New("plat: rate limited")

func TestRetryAfterTakesTheFirstHint(t *testing.T) {
	limit := &RateLimitError{Sentinel: errLimited, Message: "plat: wait", Wait: 2 * time.Second}
	tests := map[string]struct {
		err  error
		want time.Duration
		ok   bool
	}{
		"rate limit":            {fmt.Errorf("op: %w", limit), 2 * time.Second, true},
		"answer with a hint":    {&ErrorResponse{StatusCode: 429, RetryAfter: time.Minute}, time.Minute, true},
		"answer without a hint": {&ErrorResponse{StatusCode: 503}, 0, false},
		"outer hinter decides":  {fmt.Errorf("op: %w", errors.Join(&ErrorResponse{StatusCode: 503}, limit)), 0, false},
		"no hinter":             {errors.New("boom"), 0, false},
		"nil":                   {nil, 0, false},
		"bare rate limit":       {limit, 2 * time.Second, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, ok := RetryAfter(tc.err)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, d)
		})
	}
	assert.ErrorIs(t, fmt.Errorf("op: %w", limit), errLimited, "a RateLimitError matches its platform's sentinel")
	assert.NotErrorIs(t, limit, errors.New("plat: rate limited"), "and no other")
	assert.Equal(t, "plat: wait", limit.Error())
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "plat API GET /x: HTTP 404 not_found: gone", Describe("plat", "GET /x", Detail(404, "not_found", "gone")))
	assert.Equal(t, "plat API request: HTTP 500", Describe("plat", "", Detail(500, "", "")))
	assert.Equal(t, "API GET /y: HTTP 502: Bad Gateway", (&ErrorResponse{StatusCode: 502, Endpoint: "GET /y"}).Error())
}
