package rocketchat_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/rocketchat"
)

func apiErr(status int, typ string) *rocketchat.APIError {
	return &rocketchat.APIError{StatusCode: status, Type: typ, Message: "m", Endpoint: "POST /api/v1/x"}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"too many requests", apiErr(429, rocketchat.TypeTooManyRequests), true},
		{"too many requests type on 400", apiErr(400, rocketchat.TypeTooManyRequests), true},
		{"cannot close, try again", apiErr(400, rocketchat.TypeCannotCloseTryAgain), true},
		{"typeless 429", apiErr(429, ""), true},
		{"typeless 408", apiErr(408, ""), true},
		{"typeless 500", apiErr(500, ""), true},
		{"typeless 503", apiErr(503, ""), true},
		{"unknown type on a 5xx", apiErr(500, "error-something-new"), true},
		{"unknown type on a 400", apiErr(400, "error-something-new"), false},
		{"invalid params", apiErr(400, rocketchat.TypeInvalidParams), false},
		{"invalid room", apiErr(400, rocketchat.TypeInvalidRoom), false},
		{"room closed", apiErr(400, rocketchat.TypeRoomClosed), false},
		{"comment required", apiErr(400, rocketchat.TypeCommentRequired), false},
		{"tags required", apiErr(400, rocketchat.TypeTagsRequired), false},
		{"MAC limit", apiErr(400, rocketchat.TypeMACLimitReached), false},
		{"not authorized", apiErr(400, rocketchat.TypeNotAuthorized), false},
		{"403", apiErr(403, rocketchat.TypeUnauthorized), false},
		{"401", apiErr(401, ""), false},
		{"200 success false", apiErr(200, "error-not-allowed"), false},
		{"known permanent type on a 5xx", apiErr(500, rocketchat.TypeInvalidParams), false},
		{"wrapped 429", fmt.Errorf("x: %w", apiErr(429, "")), true},
		{"client did not wait", fmt.Errorf("x: %w", rocketchat.ErrRateLimited), true},
		// Context and transport errors: the apiclienttest suite
		// (contract_test.go).
		{"invalid argument", rocketchat.ErrInvalidArgument, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rocketchat.IsRetryable(tt.err))
		})
	}
}

func TestAPIErrorIs(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same type", apiErr(400, rocketchat.TypeInvalidRoom), rocketchat.ErrInvalidRoom, true},
		{"other type", apiErr(400, rocketchat.TypeInvalidRoom), rocketchat.ErrRoomClosed, false},
		{"already closed is closed", apiErr(400, rocketchat.TypeRoomAlreadyClosed), rocketchat.ErrRoomClosed, true},
		{"inquiry room-closed is closed", apiErr(400, rocketchat.TypeInquiryRoomClosed), rocketchat.ErrRoomClosed, true},
		{"typeless 401", apiErr(401, ""), rocketchat.ErrUnauthorized, true},
		{"typeless 403", apiErr(403, ""), rocketchat.ErrForbidden, true},
		{"typeless 429", apiErr(429, ""), rocketchat.ErrTooManyRequests, true},
		{"typed error never matches by status", apiErr(429, "error-other"), rocketchat.ErrTooManyRequests, false},
		{"typeless 400 is no invalid params", apiErr(400, ""), rocketchat.ErrInvalidParams, false},
		{"wrapped", fmt.Errorf("x: %w", apiErr(400, rocketchat.TypeCommentRequired)), rocketchat.ErrCommentRequired, true},
		{"non-API target", apiErr(400, ""), context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, errors.Is(tt.err, tt.target))
		})
	}
}

// RetryAfter (a hint, a wrapped hint, none, not an API error, nil): the
// apiclienttest suite, over real answers (contract_test.go).
