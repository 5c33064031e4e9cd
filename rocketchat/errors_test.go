package rocketchat_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/rocketchat"
)

func apiErr(status int, typ string) *rocketchat.APIError {
	return &rocketchat.APIError{StatusCode: status, Type: typ, Message: "m", Endpoint: "POST /api/v1/x"}
}

func TestIsRetryable(t *testing.T) {
	// Context and transport errors: the apiclienttest suite
	// (contract_test.go).
	apiclienttest.TestRetryable(t, rocketchat.IsRetryable, map[string]error{
		"too many requests":             apiErr(429, rocketchat.TypeTooManyRequests),
		"too many requests type on 400": apiErr(400, rocketchat.TypeTooManyRequests),
		"cannot close, try again":       apiErr(400, rocketchat.TypeCannotCloseTryAgain),
		"typeless 429":                  apiErr(429, ""),
		"typeless 408":                  apiErr(408, ""),
		"typeless 500":                  apiErr(500, ""),
		"typeless 503":                  apiErr(503, ""),
		"unknown type on a 5xx":         apiErr(500, "error-something-new"),
		"wrapped 429":                   fmt.Errorf("x: %w", apiErr(429, "")),
		"client did not wait":           fmt.Errorf("x: %w", rocketchat.ErrRateLimited),
	}, map[string]error{
		"unknown type on a 400":         apiErr(400, "error-something-new"),
		"invalid params":                apiErr(400, rocketchat.TypeInvalidParams),
		"invalid room":                  apiErr(400, rocketchat.TypeInvalidRoom),
		"room closed":                   apiErr(400, rocketchat.TypeRoomClosed),
		"comment required":              apiErr(400, rocketchat.TypeCommentRequired),
		"tags required":                 apiErr(400, rocketchat.TypeTagsRequired),
		"MAC limit":                     apiErr(400, rocketchat.TypeMACLimitReached),
		"not authorized":                apiErr(400, rocketchat.TypeNotAuthorized),
		"403":                           apiErr(403, rocketchat.TypeUnauthorized),
		"401":                           apiErr(401, ""),
		"200 success false":             apiErr(200, "error-not-allowed"),
		"known permanent type on a 5xx": apiErr(500, rocketchat.TypeInvalidParams),
		"invalid argument":              rocketchat.ErrInvalidArgument,
	})
}

func TestAPIErrorIs(t *testing.T) {
	apiclienttest.TestIs(t, map[string][2]error{
		"same type":                     {apiErr(400, rocketchat.TypeInvalidRoom), rocketchat.ErrInvalidRoom},
		"already closed is closed":      {apiErr(400, rocketchat.TypeRoomAlreadyClosed), rocketchat.ErrRoomClosed},
		"inquiry room-closed is closed": {apiErr(400, rocketchat.TypeInquiryRoomClosed), rocketchat.ErrRoomClosed},
		"typeless 401":                  {apiErr(401, ""), rocketchat.ErrUnauthorized},
		"typeless 403":                  {apiErr(403, ""), rocketchat.ErrForbidden},
		"typeless 429":                  {apiErr(429, ""), rocketchat.ErrTooManyRequests},
		"wrapped":                       {fmt.Errorf("x: %w", apiErr(400, rocketchat.TypeCommentRequired)), rocketchat.ErrCommentRequired},
	}, map[string][2]error{
		"other type":                          {apiErr(400, rocketchat.TypeInvalidRoom), rocketchat.ErrRoomClosed},
		"typed error never matches by status": {apiErr(429, "error-other"), rocketchat.ErrTooManyRequests},
		"typeless 400 is no invalid params":   {apiErr(400, ""), rocketchat.ErrInvalidParams},
		"non-API target":                      {apiErr(400, ""), context.Canceled},
	})
}

// RetryAfter (a hint, a wrapped hint, none, not an API error, nil): the
// apiclienttest suite, over real answers (contract_test.go).
