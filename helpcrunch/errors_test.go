package helpcrunch_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/helpcrunch"
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
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"429", apiErr(429, "invalid_request", "too_many_requests"), true},
		{"too_many_requests code on another status", apiErr(400, "too_many_requests"), true},
		{"408", apiErr(408), true},
		{"500", apiErr(500), true},
		{"502 page", apiErr(502), true},
		{"503", apiErr(503), true},
		{"400", apiErr(400, "invalid_request", "invalid_chat_value"), false},
		{"401", apiErr(401, "invalid_token"), false},
		{"403", apiErr(403), false},
		{"404", apiErr(404, "chat_not_found"), false},
		{"422", apiErr(422), false},
		{"wrapped 429", fmt.Errorf("x: %w", apiErr(429)), true},
		{"joined 503", errors.Join(errors.New("x"), apiErr(503)), true},
		{"client-side limiter", fmt.Errorf("x: %w", helpcrunch.ErrRateLimited), true},
		// Context and transport errors: the apiclienttest suite
		// (contract_test.go).
		{"invalid argument", helpcrunch.ErrInvalidArgument, false},
		{"missing key", helpcrunch.ErrMissingAPIKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, helpcrunch.IsRetryable(tt.err))
		})
	}
}

// RetryAfter (a hint, a wrapped hint, none, not an API error, nil): the
// apiclienttest suite, over real answers (contract_test.go).

func TestAPIErrorIs(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"404 is ErrNotFound", apiErr(404, "chat_not_found"), helpcrunch.ErrNotFound, true},
		{"404 entity is ErrNotFound", apiErr(404, "entity_not_found"), helpcrunch.ErrNotFound, true},
		{"401 either shape", apiErr(401, "invalid_token"), helpcrunch.ErrUnauthorized, true},
		{"400 is not 404", apiErr(400), helpcrunch.ErrNotFound, false},
		{"by code", apiErr(404, "chat_not_found"), &helpcrunch.APIError{Code: helpcrunch.CodeChatNotFound}, true},
		{"by a non-main code", apiErr(401, "invalid_request", "unauthorized"), &helpcrunch.APIError{Code: helpcrunch.CodeInvalidRequest}, true},
		{"by code and status", apiErr(404, "chat_not_found"), &helpcrunch.APIError{StatusCode: 404, Code: helpcrunch.CodeEntityNotFound}, false},
		{"empty target", apiErr(404), &helpcrunch.APIError{}, false},
		{"wrapped", fmt.Errorf("x: %w", apiErr(429)), helpcrunch.ErrTooManyRequests, true},
		{"non-API target", apiErr(429), context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, errors.Is(tt.err, tt.target))
		})
	}
}
