package helpcrunch

import (
	"errors"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Error codes seen in the "code" field of HelpCrunch error entries. The
// documentation is not consistent from page to page (a 401 is
// invalid_request+unauthorized on some pages and invalid_token on others, and
// most answers start with a generic invalid_request entry), so the client
// decides on the HTTP status first and treats codes as a best-effort detail.
// See https://docs.helpcrunch.com/rest-api-v1/api-setup-v1
const (
	CodeInvalidRequest   = "invalid_request"
	CodeInvalidToken     = "invalid_token"
	CodeUnauthorized     = "unauthorized"
	CodeInvalidChatValue = "invalid_chat_value"
	CodeChatNotFound     = "chat_not_found"
	CodeEntityNotFound   = "entity_not_found"
	CodeTooManyRequests  = "too_many_requests"
)

// Sentinel API errors, for use with errors.Is. They match by HTTP status:
//
//	if errors.Is(err, helpcrunch.ErrNotFound) { ... }
//
// To match a code instead, use a target with only Code set:
//
//	errors.Is(err, &helpcrunch.APIError{Code: helpcrunch.CodeChatNotFound})
var (
	// ErrBadRequest: a 400, the request was invalid (a wrong status name, a
	// non-numeric id, an unknown search field). Permanent.
	ErrBadRequest = &APIError{StatusCode: http.StatusBadRequest}
	// ErrUnauthorized: a 401, the API key is missing, wrong or revoked. Permanent.
	ErrUnauthorized = &APIError{StatusCode: http.StatusUnauthorized}
	// ErrForbidden: a 403. Permanent.
	ErrForbidden = &APIError{StatusCode: http.StatusForbidden}
	// ErrNotFound: a 404, no such chat (chat_not_found) or other entity
	// (entity_not_found). Permanent.
	ErrNotFound = &APIError{StatusCode: http.StatusNotFound}
	// ErrTooManyRequests: a 429, more than the account's requests per minute
	// (120 by default). Retryable.
	ErrTooManyRequests = &APIError{StatusCode: http.StatusTooManyRequests}
)

// Errors of the client itself (not of the API).
var (
	// ErrMissingAPIKey is returned by New when the API key is empty.
	ErrMissingAPIKey = errors.New("helpcrunch: missing API key")
	// ErrInvalidOption is wrapped by New when an option's argument is invalid.
	ErrInvalidOption = errors.New("helpcrunch: invalid option")
	// ErrInvalidArgument is wrapped by methods called with a missing or invalid
	// argument (a zero chat id, an unknown status, a page size over 100); no
	// request is sent. Permanent.
	ErrInvalidArgument = errors.New("helpcrunch: invalid argument")
	// ErrInvalidStatus is wrapped (with ErrInvalidArgument) by ParseStatus and
	// SetStatus for a status name that is not one of the six settable ones.
	ErrInvalidStatus = errors.New("helpcrunch: unknown chat status")
	// ErrRateLimited is matched by the error a call returns when the
	// client-side rate limiter would make it wait past the context's deadline.
	// No request was sent. Retryable; RetryAfter gives the wait.
	ErrRateLimited = errors.New("helpcrunch: client-side rate limit")
)

// ErrorDetail is one entry of the API's {"errors":[{"code","message"}]}.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is the most specific code of Errors: the first one that is not
	// the generic invalid_request, else invalid_request, else "" (a body that
	// is not the documented envelope).
	Code string
	// Message is the message of Code's entry, or the body text when the body
	// is not the envelope (trimmed, at most httpcall.MaxErrorBody bytes).
	Message string
	// Errors are every entry of the envelope, in order.
	Errors []ErrorDetail
	// RetryAfter is the Retry-After header (seconds or HTTP date), 0 when
	// absent. HelpCrunch documents none, so it is usually 0.
	RetryAfter time.Duration
	// Endpoint is the method and path that failed, e.g. "PUT /v1/chats/status".
	Endpoint string
}

// HTTPStatus is StatusCode (apiclient.StatusError).
func (e *APIError) HTTPStatus() int { return e.StatusCode }

// Error names the endpoint, the HTTP status, the code and the message.
func (e *APIError) Error() string { return apiclient.Describe("helpcrunch", e.Endpoint, e.Detail()) }

// Detail describes the error without naming the call: the status, the
// platform's error type or code, and its message.
func (e *APIError) Detail() string { return apiclient.Detail(e.StatusCode, e.Code, e.Message) }

// HasCode reports whether any entry of the answer carries code.
func (e *APIError) HasCode(code string) bool {
	if e.Code == code {
		return true
	}
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Is reports whether target is an *APIError that e matches: same StatusCode
// when the target has one, and an entry with the target's Code when the
// target has one. A target with neither matches nothing.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok || (t.StatusCode == 0 && t.Code == "") {
		return false
	}
	if t.StatusCode != 0 && t.StatusCode != e.StatusCode {
		return false
	}
	return t.Code == "" || e.HasCode(t.Code)
}

// Retryable reports whether repeating the same request later may succeed: a
// 429 (or the too_many_requests code), a 408, or any 5xx.
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.HasCode(CodeTooManyRequests) ||
		e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

// RetryHint is RetryAfter (apiclient.RetryHinter).
func (e *APIError) RetryHint() time.Duration { return e.RetryAfter }

// IsRetryable is the one place that decides whether a failed call may be
// repeated. It is true for:
//   - API errors with status 429 (or code too_many_requests), 408 or 5xx;
//   - ErrRateLimited (the client-side limiter would have waited past the
//     deadline);
//   - transport failures: timeouts (net.Error, http.Client.Timeout,
//     context.DeadlineExceeded), network errors (*net.OpError, DNS errors),
//     connection reset/refused/aborted, broken pipe, io.EOF and
//     io.ErrUnexpectedEOF.
//
// It is false for nil, context.Canceled, every other API error (400, 401,
// 403, 404, ...), ErrInvalidArgument, and anything else such as JSON decoding
// errors. The decision is made on types, never on error text.
func IsRetryable(err error) bool {
	return httpcall.Retryable(err, ErrRateLimited, (*APIError).Retryable)
}

// RetryAfter returns the wait hinted by err: the server's Retry-After of an
// *APIError, or the client-side limiter's wait of an ErrRateLimited error.
func RetryAfter(err error) (time.Duration, bool) { return apiclient.RetryAfter(err) }
