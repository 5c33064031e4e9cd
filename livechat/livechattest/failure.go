package livechattest

import (
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// Failure is an injected fault, armed with Server.FailNext.
//
// Hang, when set, delays the answer first (an aborted request — the client
// gave up, or the server stopped — is recorded with StatusAborted). Then, if
// Status, Type or RawBody is set, the call is answered with that error;
// otherwise it is served normally.
type Failure struct {
	// Status is the HTTP status; 0 derives it from Type (see StatusFor).
	Status int
	// Type and Message fill the error envelope.
	Type, Message string
	// Data, when non-nil, is the envelope's "data" object.
	Data any
	// RetryAfter, when positive, is sent as Retry-After in whole seconds
	// (rounded up).
	RetryAfter time.Duration
	// Hang delays the answer, respecting the request's context.
	Hang time.Duration
	// RawBody, when set, is sent verbatim instead of the JSON envelope (to
	// imitate a proxy's HTML error page). Status defaults to 502 then.
	RawBody string
}

func (f Failure) isError() bool { return f.Status != 0 || f.Type != "" || f.RawBody != "" }

// TooManyRequests is a 429 too_many_requests with Retry-After (none when
// retryAfter is 0).
func TooManyRequests(retryAfter time.Duration) Failure {
	return Failure{Status: http.StatusTooManyRequests, Type: livechat.TypeTooManyRequests,
		Message: "Too many requests", RetryAfter: retryAfter}
}

// ServerError is a 500 internal error.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Type: livechat.TypeInternal,
		Message: "Internal server error"}
}

// ServiceUnavailable is a 503 service_unavailable.
func ServiceUnavailable() Failure {
	return Failure{Status: http.StatusServiceUnavailable, Type: livechat.TypeServiceUnavailable,
		Message: "Service unavailable"}
}

// Hang delays the answer by d, then serves the call normally.
func Hang(d time.Duration) Failure { return Failure{Hang: d} }

// Validation is a 422 validation error with msg.
func Validation(msg string) Failure {
	return Failure{Status: http.StatusUnprocessableEntity, Type: livechat.TypeValidation, Message: msg}
}

// Misdirected is a misdirected_request naming region in data.region.
func Misdirected(region string) Failure {
	return Failure{Status: http.StatusMisdirectedRequest, Type: livechat.TypeMisdirectedRequest,
		Message: "Wrong region", Data: map[string]string{"region": region}}
}

// StatusFor is the HTTP status the fake uses for an error type. LiveChat
// documents no mapping; validation → 422 is the one observed in the wild, the
// rest are plausible choices.
func StatusFor(errType string) int {
	switch errType {
	case livechat.TypeValidation:
		return http.StatusUnprocessableEntity
	case livechat.TypeNotFound, livechat.TypeLicenseNotFound:
		return http.StatusNotFound
	case livechat.TypeAuthentication:
		return http.StatusUnauthorized
	case livechat.TypeAuthorization, livechat.TypeMissingAccess:
		return http.StatusForbidden
	case livechat.TypeTooManyRequests:
		return http.StatusTooManyRequests
	case livechat.TypeMisdirectedRequest:
		return http.StatusMisdirectedRequest
	case livechat.TypeInternal:
		return http.StatusInternalServerError
	case livechat.TypeServiceUnavailable:
		return http.StatusServiceUnavailable
	case livechat.TypeRequestTimeout:
		return http.StatusRequestTimeout
	case livechat.TypeEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	case livechat.TypeLicenseExpired:
		return http.StatusPaymentRequired
	default:
		return http.StatusBadRequest
	}
}
