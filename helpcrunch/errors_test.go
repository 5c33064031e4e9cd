package helpcrunch_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
)

func apiErr(status int, codes ...string) *helpcrunch.APIError {
	e := &helpcrunch.APIError{StatusCode: status, Endpoint: "GET /v1/chats/1"}
	for _, c := range codes {
		e.Errors = append(e.Errors, helpcrunch.ErrorDetail{Code: c, Message: "m"})
	}
	if len(codes) > 0 {
		e.Code = codes[len(codes)-1]
	}
	return e
}

func TestIsRetryable(t *testing.T) {
	// Context and transport errors: the apiclienttest suite
	// (contract_test.go).
	apiclienttest.TestRetryable(t, helpcrunch.IsRetryable, map[string]error{
		"429": apiErr(429, "invalid_request", "too_many_requests"),
		"too_many_requests code on another status": apiErr(400, "too_many_requests"),
		"408":                 apiErr(408),
		"500":                 apiErr(500),
		"502 page":            apiErr(502),
		"503":                 apiErr(503),
		"wrapped 429":         fmt.Errorf("x: %w", apiErr(429)),
		"joined 503":          errors.Join(errors.New("x"), apiErr(503)),
		"client-side limiter": fmt.Errorf("x: %w", helpcrunch.ErrRateLimited),
	}, map[string]error{
		"400":              apiErr(400, "invalid_request", "invalid_chat_value"),
		"401":              apiErr(401, "invalid_token"),
		"403":              apiErr(403),
		"404":              apiErr(404, "chat_not_found"),
		"422":              apiErr(422),
		"invalid argument": helpcrunch.ErrInvalidArgument,
		"missing key":      helpcrunch.ErrMissingAPIKey,
	})
}

// RetryAfter (a hint, a wrapped hint, none, not an API error, nil): the
// apiclienttest suite, over real answers (contract_test.go).

func TestAPIErrorIs(t *testing.T) {
	apiclienttest.TestIs(t, map[string][2]error{
		"404 is ErrNotFound":        {apiErr(404, "chat_not_found"), helpcrunch.ErrNotFound},
		"404 entity is ErrNotFound": {apiErr(404, "entity_not_found"), helpcrunch.ErrNotFound},
		"401 either shape":          {apiErr(401, "invalid_token"), helpcrunch.ErrUnauthorized},
		"by code":                   {apiErr(404, "chat_not_found"), &helpcrunch.APIError{Code: helpcrunch.CodeChatNotFound}},
		"by a non-main code":        {apiErr(401, "invalid_request", "unauthorized"), &helpcrunch.APIError{Code: helpcrunch.CodeInvalidRequest}},
		"wrapped":                   {fmt.Errorf("x: %w", apiErr(429)), helpcrunch.ErrTooManyRequests},
	}, map[string][2]error{
		"400 is not 404":     {apiErr(400), helpcrunch.ErrNotFound},
		"by code and status": {apiErr(404, "chat_not_found"), &helpcrunch.APIError{StatusCode: 404, Code: helpcrunch.CodeEntityNotFound}},
		"empty target":       {apiErr(404), &helpcrunch.APIError{}},
		"non-API target":     {apiErr(429), context.Canceled},
	})
}
