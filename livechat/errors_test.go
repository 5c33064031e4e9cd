package livechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/livechat"
)

func apiErr(status int, typ string) *livechat.APIError {
	return &livechat.APIError{StatusCode: status, Type: typ, Message: "m", Action: "get_chat"}
}

func TestIsRetryable(t *testing.T) {
	// Context and transport errors: the apiclienttest suite
	// (contract_test.go).
	apiclienttest.TestRetryable(t, livechat.IsRetryable, map[string]error{
		"too_many_requests":        apiErr(429, livechat.TypeTooManyRequests),
		"service_unavailable":      apiErr(503, livechat.TypeServiceUnavailable),
		"request_timeout":          apiErr(408, livechat.TypeRequestTimeout),
		"internal":                 apiErr(500, livechat.TypeInternal),
		"internal with odd status": apiErr(400, livechat.TypeInternal),
		"unknown type on a 5xx":    apiErr(502, "brand_new"),
		"typeless 429":             apiErr(429, ""),
		"typeless 408":             apiErr(408, ""),
		"typeless 500":             apiErr(500, ""),
		"typeless 502":             apiErr(502, ""),
		"typeless 503":             apiErr(503, ""),
		"typeless 504":             apiErr(504, ""),
		"wrapped 429":              fmt.Errorf("unpin: %w", apiErr(429, livechat.TypeTooManyRequests)),
		"joined":                   errors.Join(errors.New("x"), apiErr(503, "")),
	}, map[string]error{
		"validation":                    apiErr(422, livechat.TypeValidation),
		"not_found":                     apiErr(404, livechat.TypeNotFound),
		"authorization":                 apiErr(403, livechat.TypeAuthorization),
		"authentication":                apiErr(401, livechat.TypeAuthentication),
		"chat_inactive":                 apiErr(400, livechat.TypeChatInactive),
		"missing_access":                apiErr(403, livechat.TypeMissingAccess),
		"license_expired":               apiErr(402, livechat.TypeLicenseExpired),
		"license_not_found":             apiErr(404, livechat.TypeLicenseNotFound),
		"misdirected_request":           apiErr(421, livechat.TypeMisdirectedRequest),
		"agent_offline":                 apiErr(400, livechat.TypeAgentOffline),
		"limit_reached":                 apiErr(400, livechat.TypeLimitReached),
		"entity_too_large":              apiErr(413, livechat.TypeEntityTooLarge),
		"unsupported_version":           apiErr(400, livechat.TypeUnsupportedVersion),
		"wrong_product_version":         apiErr(400, livechat.TypeWrongProductVersion),
		"known permanent type on a 5xx": apiErr(500, livechat.TypeValidation),
		"unknown type on a 4xx":         apiErr(400, "brand_new"),
		"typeless 400":                  apiErr(400, ""),
		"typeless 401":                  apiErr(401, ""),
		"typeless 404":                  apiErr(404, ""),
		"typeless 409":                  apiErr(409, ""),
		"typeless 422":                  apiErr(422, ""),
		"wrapped validation":            fmt.Errorf("unpin: %w", apiErr(422, livechat.TypeValidation)),
		"missing auth":                  livechat.ErrMissingAuth,
		"invalid argument":              livechat.ErrInvalidArgument,
	})
}

// RetryAfter (a hint, a wrapped hint, none, not an API error, nil): the
// apiclienttest suite, over real answers (contract_test.go).

func TestAPIErrorIs(t *testing.T) {
	apiclienttest.TestIs(t, map[string][2]error{
		"same type":                              {apiErr(422, livechat.TypeValidation), livechat.ErrValidation},
		"typeless 404 matches ErrNotFound":       {apiErr(404, ""), livechat.ErrNotFound},
		"typeless 401 matches ErrAuthentication": {apiErr(401, ""), livechat.ErrAuthentication},
		"wrapped":                                {fmt.Errorf("x: %w", apiErr(429, livechat.TypeTooManyRequests)), livechat.ErrTooManyRequests},
	}, map[string][2]error{
		"other type":                          {apiErr(422, livechat.TypeValidation), livechat.ErrNotFound},
		"typed error never matches by status": {apiErr(404, livechat.TypeChatInactive), livechat.ErrNotFound},
		"typeless 400 matches no validation":  {apiErr(400, ""), livechat.ErrValidation},
		"non-API target":                      {apiErr(429, livechat.TypeTooManyRequests), context.Canceled},
	})
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
