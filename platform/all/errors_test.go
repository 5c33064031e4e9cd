package all_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rocketchat"
	. "github.com/chatwarden/chatwarden/rules"
)

// TestPlatformErrorClassification: each platform's errors map onto the
// runner's policy: retryable with the platform's hint, or permanent with a
// reason named after the platform's error type or the HTTP status.
func TestPlatformErrorClassification(t *testing.T) {
	noCreds := NoCredentials("helpcrunch", "helpcrunch.api_key")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		classify   func(context.Context, error) error
		err        error
		permanent  bool
		reason     string
		retryAfter time.Duration
	}{
		{"nil", nil, liveChatErr, nil, false, "", 0},
		{"livechat: type names the failure", nil, liveChatErr, &livechat.APIError{StatusCode: 422, Type: livechat.TypeValidation}, true, "validation", 0},
		{"livechat: no type", nil, liveChatErr, &livechat.APIError{StatusCode: 418}, true, "error", 0},
		{"livechat: 429 with its hint", nil, liveChatErr, &livechat.APIError{StatusCode: 429, Type: livechat.TypeTooManyRequests, RetryAfter: 3 * time.Second}, false, "", 3 * time.Second},
		{"livechat: no credentials", nil, liveChatErr, fmt.Errorf("chat C1: %w", noCreds), true, "no credentials", 0},
		{"livechat: the call's context ended: retried", canceled, liveChatErr, errors.New("whatever"), false, "", 0},
		{"helpcrunch: 404", nil, helpCrunchErr, &helpcrunch.APIError{StatusCode: 404, Code: "not_found"}, true, "not_found", 0},
		{"helpcrunch: 422 is validation", nil, helpCrunchErr, &helpcrunch.APIError{StatusCode: 422}, true, "validation", 0},
		{"helpcrunch: other status: its code", nil, helpCrunchErr, &helpcrunch.APIError{StatusCode: 409, Code: "conflict"}, true, "conflict", 0},
		{"helpcrunch: refused before sending", nil, helpCrunchErr, fmt.Errorf("x: %w", helpcrunch.ErrInvalidArgument), true, "validation", 0},
		{"helpcrunch: 503", nil, helpCrunchErr, &helpcrunch.APIError{StatusCode: 503}, false, "", 0},
		{"rocketchat: type names the failure", nil, rocketChatErr, &rocketchat.APIError{StatusCode: 400, Type: rocketchat.TypeRoomClosed}, true, rocketchat.TypeRoomClosed, 0},
		{"rocketchat: 401 without a type", nil, rocketChatErr, &rocketchat.APIError{StatusCode: 401}, true, "authentication", 0},
		{"rocketchat: 403 without a type", nil, rocketChatErr, &rocketchat.APIError{StatusCode: 403}, true, "authorization", 0},
		{"rocketchat: refused before sending", nil, rocketChatErr, fmt.Errorf("x: %w", rocketchat.ErrInvalidArgument), true, "validation", 0},
		{"rocketchat: no credentials", nil, rocketChatErr, noCreds, true, "no credentials", 0},
		{"already classified: kept", nil, rocketChatErr, consumer.Permanent("mine", errors.New("x")), true, "mine", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			got := tc.classify(ctx, tc.err)
			if tc.err == nil {
				assert.NoError(t, got)
				return
			}
			assert.ErrorIs(t, got, tc.err, "the cause stays reachable")
			permanent, hint := consumer.Classify(got)
			assert.Equal(t, tc.permanent, permanent, "permanent")
			assert.Equal(t, tc.reason, permanentReason(got), "reason")
			assert.Equal(t, tc.retryAfter, hint, "retry hint")
		})
	}
}
