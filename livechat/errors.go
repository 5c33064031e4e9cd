package livechat

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Error types of the Agent Chat Web API, as sent in the "type" field of the
// error envelope. See
// https://platform.text.com/docs/messaging/agent-chat-api#possible-errors
const (
	TypeAgentOffline        = "agent_offline"
	TypeAuthentication      = "authentication"
	TypeAuthorization       = "authorization"
	TypeChatInactive        = "chat_inactive"
	TypeEntityTooLarge      = "entity_too_large"
	TypeInternal            = "internal"
	TypeLicenseExpired      = "license_expired"
	TypeLicenseNotFound     = "license_not_found"
	TypeLimitReached        = "limit_reached"
	TypeMisdirectedRequest  = "misdirected_request"
	TypeMissingAccess       = "missing_access"
	TypeNotFound            = "not_found"
	TypeRequestTimeout      = "request_timeout"
	TypeServiceUnavailable  = "service_unavailable"
	TypeTooManyRequests     = "too_many_requests"
	TypeUnsupportedVersion  = "unsupported_version"
	TypeValidation          = "validation"
	TypeWrongProductVersion = "wrong_product_version"
)

// Sentinel API errors, for use with errors.Is:
//
//	if errors.Is(err, livechat.ErrNotFound) { ... }
//
// A returned *APIError matches a sentinel when their Type is equal. An error
// without a Type (a non-JSON body, typically from a proxy or load balancer)
// matches the sentinel whose StatusCode equals its HTTP status, for the
// sentinels that carry one (401, 403, 404, 408, 429, 500, 503).
var (
	// ErrAgentOffline: the agent was offline.
	ErrAgentOffline = &APIError{Type: TypeAgentOffline}
	// ErrAuthentication: an invalid or expired token. Permanent.
	ErrAuthentication = &APIError{Type: TypeAuthentication, StatusCode: http.StatusUnauthorized}
	// ErrAuthorization: the token may not perform the action. Permanent.
	ErrAuthorization = &APIError{Type: TypeAuthorization, StatusCode: http.StatusForbidden}
	// ErrChatInactive: the action needs an active thread and the chat has none.
	ErrChatInactive = &APIError{Type: TypeChatInactive}
	// ErrEntityTooLarge: the request is too large.
	ErrEntityTooLarge = &APIError{Type: TypeEntityTooLarge}
	// ErrInternal: an internal server error. Retryable.
	ErrInternal = &APIError{Type: TypeInternal, StatusCode: http.StatusInternalServerError}
	// ErrLicenseExpired: the license trial or subscription ended. Permanent.
	ErrLicenseExpired = &APIError{Type: TypeLicenseExpired}
	// ErrLicenseNotFound: no such license. Permanent.
	ErrLicenseNotFound = &APIError{Type: TypeLicenseNotFound}
	// ErrLimitReached: the change would exceed a limit.
	ErrLimitReached = &APIError{Type: TypeLimitReached}
	// ErrMisdirected: the request went to the wrong data center. The client
	// already retried once with the region named by the server when it
	// returns this.
	ErrMisdirected = &APIError{Type: TypeMisdirectedRequest}
	// ErrMissingAccess: the requester has no access to the resource. Permanent.
	ErrMissingAccess = &APIError{Type: TypeMissingAccess}
	// ErrNotFound: the chat, thread or other resource does not exist. Permanent.
	ErrNotFound = &APIError{Type: TypeNotFound, StatusCode: http.StatusNotFound}
	// ErrRequestTimeout: the server gave up after its 15 s threshold. Retryable.
	ErrRequestTimeout = &APIError{Type: TypeRequestTimeout, StatusCode: http.StatusRequestTimeout}
	// ErrServiceUnavailable: new requests are temporarily refused. Retryable.
	ErrServiceUnavailable = &APIError{Type: TypeServiceUnavailable, StatusCode: http.StatusServiceUnavailable}
	// ErrTooManyRequests: the rate limit was exceeded. Retryable; see RetryAfter.
	ErrTooManyRequests = &APIError{Type: TypeTooManyRequests, StatusCode: http.StatusTooManyRequests}
	// ErrUnsupportedVersion: the API version is not supported. Permanent.
	ErrUnsupportedVersion = &APIError{Type: TypeUnsupportedVersion}
	// ErrValidation: the request was malformed. Permanent.
	ErrValidation = &APIError{Type: TypeValidation}
	// ErrWrongProductVersion: the license is not LiveChat 3. Permanent.
	ErrWrongProductVersion = &APIError{Type: TypeWrongProductVersion}
)

// Errors of the client itself (not of the API).
var (
	// ErrMissingAuth is returned by New when the Auth has no token.
	ErrMissingAuth = errors.New("livechat: missing credentials")
	// ErrInvalidOption is wrapped by New when an option's argument is invalid.
	ErrInvalidOption = errors.New("livechat: invalid option")
)

// MaxErrorBody is how many bytes of a non-200 response body the client reads
// to build an *APIError; the rest is discarded.
const MaxErrorBody = httpcall.MaxErrorBody

// APIError is a non-200 answer of the API. It carries the HTTP status and,
// when the body held the documented envelope
// {"error":{"type","message","data"}}, the platform's error type, message and
// data. For a body that is not the envelope, Type is empty and Message holds
// the body text (trimmed, at most MaxErrorBody bytes).
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type is the platform's error type, one of the Type* constants, or "".
	Type string
	// Message is the platform's message, or the body text.
	Message string
	// Data is the envelope's optional "data" object, raw.
	Data json.RawMessage
	// RetryAfter is the server's Retry-After header (seconds or HTTP date),
	// 0 when absent or unparsable.
	RetryAfter time.Duration
	// Action is the API action that failed, e.g. "update_chat_properties".
	Action string
}

// HTTPStatus is StatusCode (apiclient.StatusError).
func (e *APIError) HTTPStatus() int { return e.StatusCode }

// Error names the action, the HTTP status, the type and the message.
func (e *APIError) Error() string { return apiclient.Describe("livechat", e.Action, e.Detail()) }

// Detail describes the error without naming the call: the status, the
// platform's error type or code, and its message.
func (e *APIError) Detail() string { return apiclient.Detail(e.StatusCode, e.Type, e.Message) }

// Is reports whether target is an *APIError with the same Type (see the
// sentinels for the status fallback of errors without a Type).
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok {
		return false
	}
	if t.Type != "" && e.Type != "" {
		return t.Type == e.Type
	}
	if e.Type == "" && t.Type != "" {
		return t.StatusCode != 0 && t.StatusCode == e.StatusCode
	}
	return false
}

// Region returns data.region of a misdirected_request error (the data
// center the request belongs to), or "".
func (e *APIError) Region() string {
	if len(e.Data) == 0 {
		return ""
	}
	var d struct {
		Region string `json:"region"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	return d.Region
}

// Retryable reports whether repeating the same request later may succeed;
// see IsRetryable.
func (e *APIError) Retryable() bool {
	switch e.Type {
	case TypeTooManyRequests, TypeServiceUnavailable, TypeRequestTimeout, TypeInternal:
		return true
	case "":
		// No envelope: decide by status.
	default:
		// Any other documented or unknown type names a problem with the
		// request, the token or the license. An unknown type on a 5xx is
		// still a server failure.
		if !knownType(e.Type) {
			return e.StatusCode >= 500
		}
		return false
	}
	return e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode >= 500
}

func knownType(t string) bool {
	switch t {
	case TypeAgentOffline, TypeAuthentication, TypeAuthorization, TypeChatInactive,
		TypeEntityTooLarge, TypeInternal, TypeLicenseExpired, TypeLicenseNotFound,
		TypeLimitReached, TypeMisdirectedRequest, TypeMissingAccess, TypeNotFound,
		TypeRequestTimeout, TypeServiceUnavailable, TypeTooManyRequests,
		TypeUnsupportedVersion, TypeValidation, TypeWrongProductVersion:
		return true
	}
	return false
}

// RetryHint is RetryAfter (apiclient.RetryHinter).
func (e *APIError) RetryHint() time.Duration { return e.RetryAfter }

// IsRetryable is the one place that decides whether a failed call may be
// repeated. It is true for:
//   - API errors of type too_many_requests, service_unavailable,
//     request_timeout and internal; API errors without a known type whose
//     status is 429, 408 or 5xx;
//   - transport failures: timeouts (net.Error, http.Client.Timeout,
//     context.DeadlineExceeded), network errors (*net.OpError, DNS errors),
//     connection reset/refused/aborted, broken pipe, io.EOF and
//     io.ErrUnexpectedEOF (connection closed mid-answer).
//
// It is false for nil, for context.Canceled (the caller gave up), for every
// other API error (validation, not_found, authorization, authentication,
// chat_inactive, missing_access, license_expired, misdirected_request after
// the client's own region retry, other 4xx) and for anything else, such as
// JSON decoding errors or an invalid URL. The decision is made on types, never
// on error text.
func IsRetryable(err error) bool {
	return httpcall.Retryable(err, nil, (*APIError).Retryable)
}

// RetryAfter returns the server's Retry-After hint carried by err (an
// *APIError anywhere in its chain), if there is one.
func RetryAfter(err error) (time.Duration, bool) { return apiclient.RetryAfter(err) }
