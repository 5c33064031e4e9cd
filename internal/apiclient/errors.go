package apiclient

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// ErrorResponse is a failed answer as the core read it, for a platform's
// Config.DecodeError to turn into its own typed error (go-github's
// ErrorResponse, before the platform reads its error envelope). It is an
// error itself for platforms without a DecodeError.
type ErrorResponse struct {
	// Response is the answer; its body has been read into Body.
	Response *http.Response
	// StatusCode is the HTTP status.
	StatusCode int
	// Endpoint is the method and path of the request, "POST /v1/chats".
	Endpoint string
	// Body is at most httpcall.MaxErrorBody bytes of the answer.
	Body []byte
	// RetryAfter is the Retry-After header (delay-seconds or an HTTP date)
	// as a wait from now; 0 when absent, invalid or past.
	RetryAfter time.Duration
}

// NewErrorResponse reads resp's status, Retry-After and at most
// httpcall.MaxErrorBody bytes of its body.
func NewErrorResponse(resp *http.Response) *ErrorResponse {
	er := &ErrorResponse{
		Response:   resp,
		StatusCode: resp.StatusCode,
		RetryAfter: httpcall.RetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if resp.Request != nil && resp.Request.URL != nil {
		er.Endpoint = resp.Request.Method + " " + resp.Request.URL.Path
	}
	er.Body, _ = io.ReadAll(io.LimitReader(resp.Body, httpcall.MaxErrorBody))
	return er
}

// Text is the body as a message: trimmed, valid UTF-8, or the status text
// when the body is blank (httpcall.ErrorText).
func (e *ErrorResponse) Text() string { return httpcall.ErrorText(e.Body, e.StatusCode) }

func (e *ErrorResponse) Error() string {
	return "API " + e.Endpoint + ": " + Detail(e.StatusCode, "", e.Text())
}

// HTTPStatus is the HTTP status of the answer.
func (e *ErrorResponse) HTTPStatus() int { return e.StatusCode }

// RetryHint is the Retry-After wait.
func (e *ErrorResponse) RetryHint() time.Duration { return e.RetryAfter }

// StatusError is an API error that carries the HTTP status of the answer.
// Every platform's *APIError implements it.
type StatusError interface {
	error
	HTTPStatus() int
}

// RetryHinter is an error that knows how long to wait before the call is
// repeated (the server's Retry-After, a rate limit's reset); 0 when it does
// not know. Every platform's *APIError and *RateLimitError implement it.
type RetryHinter interface {
	error
	RetryHint() time.Duration
}

// RetryAfter returns the wait hinted by the first RetryHinter in err's
// chain, when it hints one.
func RetryAfter(err error) (time.Duration, bool) {
	h, ok := errors.AsType[RetryHinter](err)
	if !ok || h.RetryHint() <= 0 {
		return 0, false
	}
	return h.RetryHint(), true
}

// Detail describes an API error without naming the call: "HTTP 404",
// followed by the platform's error code or type when there is one, and the
// message when there is one.
func Detail(status int, code, message string) string {
	s := fmt.Sprintf("HTTP %d", status)
	if code != "" {
		s += " " + code
	}
	if message != "" {
		s += ": " + message
	}
	return s
}

// Describe is an API error's text: "<platform> API <endpoint>: <detail>",
// with "request" for an unknown endpoint.
func Describe(platform, endpoint, detail string) string {
	if endpoint == "" {
		endpoint = "request"
	}
	return platform + " API " + endpoint + ": " + detail
}

// RateLimitError is a call the client did not send because of a rate limit
// it knows of (its own limiter, or a reset the server announced), and the
// wait until it could be sent. It matches (errors.Is) the platform's
// sentinel ErrRateLimited. Retryable.
type RateLimitError struct {
	// Sentinel is the platform's ErrRateLimited.
	Sentinel error
	// Message is the whole text of the error.
	Message string
	// Wait is how long until the call could be sent.
	Wait time.Duration
}

func (e *RateLimitError) Error() string { return e.Message }

// Is matches the platform's sentinel.
func (e *RateLimitError) Is(target error) bool { return target == e.Sentinel }

// RetryHint is Wait.
func (e *RateLimitError) RetryHint() time.Duration { return e.Wait }
