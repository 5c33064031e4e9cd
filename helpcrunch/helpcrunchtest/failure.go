package helpcrunchtest

import (
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/helpcrunch"
)

// Failure is an injected fault, armed with Server.FailNext.
//
// Hang, when set, delays the answer first (an aborted request is recorded
// with StatusAborted). Then, if Status, Errors or RawBody is set, the call is
// answered with that error; otherwise it is served normally.
type Failure struct {
	// Status is the HTTP status; 0 means 400 (502 with RawBody).
	Status int
	// Errors fill the {"errors":[...]} envelope.
	Errors []helpcrunch.ErrorDetail
	// RetryAfter, when positive, is sent as Retry-After in whole seconds.
	RetryAfter time.Duration
	// Hang delays the answer, respecting the request's context.
	Hang time.Duration
	// RawBody, when set, is sent verbatim instead of the envelope (a proxy's
	// HTML page).
	RawBody string
}

func (f Failure) isError() bool { return f.Status != 0 || len(f.Errors) > 0 || f.RawBody != "" }

func generic() helpcrunch.ErrorDetail {
	return helpcrunch.ErrorDetail{Code: helpcrunch.CodeInvalidRequest, Message: "Invalid request"}
}

// TooManyRequests is the documented 429 (invalid_request + too_many_requests),
// with Retry-After when retryAfter is positive (HelpCrunch documents none).
func TooManyRequests(retryAfter time.Duration) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Errors: []helpcrunch.ErrorDetail{
		generic(), {Code: helpcrunch.CodeTooManyRequests, Message: "Too many requests"}}}
}

// ServerError is a 500 with a generic error entry.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Errors: []helpcrunch.ErrorDetail{
		{Code: "internal_error", Message: "Internal server error"}}}
}

// ServiceUnavailable is a 503 with a proxy's HTML page.
func ServiceUnavailable() Failure {
	return Failure{Status: http.StatusServiceUnavailable, RawBody: "<html><body>503 Service Temporarily Unavailable</body></html>"}
}

// Hang delays the answer by d, then serves the call normally.
func Hang(d time.Duration) Failure { return Failure{Hang: d} }

// Validation is a 400 with the generic entry and {code, msg}, e.g.
// Validation("customer", "This value should be of type numeric.").
func Validation(code, msg string) Failure {
	return Failure{Status: http.StatusBadRequest, Errors: []helpcrunch.ErrorDetail{generic(), {Code: code, Message: msg}}}
}

// NotFound is the documented 404 chat_not_found.
func NotFound() Failure {
	return Failure{Status: http.StatusNotFound, Errors: []helpcrunch.ErrorDetail{
		{Code: helpcrunch.CodeChatNotFound, Message: "Chat is missing"}}}
}

// Unauthorized is the 401 invalid_token of some doc pages.
func Unauthorized() Failure {
	return Failure{Status: http.StatusUnauthorized, Errors: []helpcrunch.ErrorDetail{
		{Code: helpcrunch.CodeInvalidToken, Message: "Invalid token"}}}
}
