package livechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/livechat"
)

func apiErr(status int, typ string) *livechat.APIError {
	return &livechat.APIError{StatusCode: status, Type: typ, Message: "m", Action: "get_chat"}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		// API errors by type.
		{"too_many_requests", apiErr(429, livechat.TypeTooManyRequests), true},
		{"service_unavailable", apiErr(503, livechat.TypeServiceUnavailable), true},
		{"request_timeout", apiErr(408, livechat.TypeRequestTimeout), true},
		{"internal", apiErr(500, livechat.TypeInternal), true},
		{"internal with odd status", apiErr(400, livechat.TypeInternal), true},
		{"validation", apiErr(422, livechat.TypeValidation), false},
		{"not_found", apiErr(404, livechat.TypeNotFound), false},
		{"authorization", apiErr(403, livechat.TypeAuthorization), false},
		{"authentication", apiErr(401, livechat.TypeAuthentication), false},
		{"chat_inactive", apiErr(400, livechat.TypeChatInactive), false},
		{"missing_access", apiErr(403, livechat.TypeMissingAccess), false},
		{"license_expired", apiErr(402, livechat.TypeLicenseExpired), false},
		{"license_not_found", apiErr(404, livechat.TypeLicenseNotFound), false},
		{"misdirected_request", apiErr(421, livechat.TypeMisdirectedRequest), false},
		{"agent_offline", apiErr(400, livechat.TypeAgentOffline), false},
		{"limit_reached", apiErr(400, livechat.TypeLimitReached), false},
		{"entity_too_large", apiErr(413, livechat.TypeEntityTooLarge), false},
		{"unsupported_version", apiErr(400, livechat.TypeUnsupportedVersion), false},
		{"wrong_product_version", apiErr(400, livechat.TypeWrongProductVersion), false},
		{"known permanent type on a 5xx", apiErr(500, livechat.TypeValidation), false},
		{"unknown type on a 5xx", apiErr(502, "brand_new"), true},
		{"unknown type on a 4xx", apiErr(400, "brand_new"), false},

		// API errors without a type: by status.
		{"typeless 429", apiErr(429, ""), true},
		{"typeless 408", apiErr(408, ""), true},
		{"typeless 500", apiErr(500, ""), true},
		{"typeless 502", apiErr(502, ""), true},
		{"typeless 503", apiErr(503, ""), true},
		{"typeless 504", apiErr(504, ""), true},
		{"typeless 400", apiErr(400, ""), false},
		{"typeless 401", apiErr(401, ""), false},
		{"typeless 404", apiErr(404, ""), false},
		{"typeless 409", apiErr(409, ""), false},
		{"typeless 422", apiErr(422, ""), false},

		// Wrapping keeps the decision.
		{"wrapped 429", fmt.Errorf("unpin: %w", apiErr(429, livechat.TypeTooManyRequests)), true},
		{"wrapped validation", fmt.Errorf("unpin: %w", apiErr(422, livechat.TypeValidation)), false},
		{"joined", errors.Join(errors.New("x"), apiErr(503, "")), true},

		// The client's own errors are permanent. Context and transport
		// errors: the apiclienttest suite (contract_test.go).
		{"missing auth", livechat.ErrMissingAuth, false},
		{"invalid argument", livechat.ErrInvalidArgument, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, livechat.IsRetryable(tt.err))
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
		{"same type", apiErr(422, livechat.TypeValidation), livechat.ErrValidation, true},
		{"other type", apiErr(422, livechat.TypeValidation), livechat.ErrNotFound, false},
		{"typed error never matches by status", apiErr(404, livechat.TypeChatInactive), livechat.ErrNotFound, false},
		{"typeless 404 matches ErrNotFound", apiErr(404, ""), livechat.ErrNotFound, true},
		{"typeless 401 matches ErrAuthentication", apiErr(401, ""), livechat.ErrAuthentication, true},
		{"typeless 400 matches no validation", apiErr(400, ""), livechat.ErrValidation, false},
		{"wrapped", fmt.Errorf("x: %w", apiErr(429, livechat.TypeTooManyRequests)), livechat.ErrTooManyRequests, true},
		{"non-API target", apiErr(429, livechat.TypeTooManyRequests), context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, errors.Is(tt.err, tt.target))
		})
	}
}

func TestAPIErrorRegion(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"region", `{"region":"dal"}`, "dal"},
		{"no data", ``, ""},
		{"other data", `{"x":1}`, ""},
		{"not an object", `"dal"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &livechat.APIError{Type: livechat.TypeMisdirectedRequest, Data: json.RawMessage(tt.data)}
			assert.Equal(t, tt.want, e.Region())
		})
	}
}
