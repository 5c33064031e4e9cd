package rocketchat

import (
	"errors"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Error types of the Rocket.Chat REST API, as found in "errorType" or at the
// end of "error" ("... [error-room-closed]") or as the whole "error" string.
// Sources: apps/meteor/app/livechat/server/api/v1/room.ts, lib/closeRoom.ts,
// the inquiries and rooms REST files, and the REST API's rate limiter.
const (
	TypeInvalidParams       = "invalid-params"
	TypeUnauthorized        = "unauthorized" // 403: missing permission
	TypeNotAuthorized       = "error-not-authorized"
	TypeNotAllowed          = "error-not-allowed"
	TypeInvalidRoom         = "error-invalid-room"
	TypeRoomNotFound        = "error-room-not-found"
	TypeRoomClosed          = "error-room-closed"
	TypeRoomAlreadyClosed   = "error-room-already-closed" // older room.closeByUser
	TypeInquiryRoomClosed   = "room-closed"               // inquiries.returnAsInquiry
	TypeCommentRequired     = "error-comment-is-required"
	TypeTagsRequired        = "error-tags-must-be-assigned-before-closing-chat"
	TypeCannotCloseTryAgain = "error-room-cannot-be-closed-try-again"
	TypeMACLimitReached     = "error-mac-limit-reached"
	TypeTooManyRequests     = "error-too-many-requests"
)

// Sentinel API errors, for use with errors.Is:
//
//	if errors.Is(err, rocketchat.ErrRoomClosed) { ... }
//
// An *APIError matches a sentinel when their types are equal; the three
// spellings of "the room is closed" (error-room-closed,
// error-room-already-closed, room-closed) all match ErrRoomClosed. An error
// without a type (a proxy's page, the 401 body) matches the sentinels that
// carry its HTTP status (401, 403, 404, 429).
var (
	// ErrUnauthorized: a 401 "You must be logged in to do this.": the user id
	// or token is wrong or revoked. Permanent.
	ErrUnauthorized = &APIError{StatusCode: http.StatusUnauthorized}
	// ErrForbidden: a 403 "unauthorized": the user lacks a permission
	// (close-livechat-room, view-l-room, view-livechat-rooms, ...). Permanent.
	ErrForbidden = &APIError{Type: TypeUnauthorized, StatusCode: http.StatusForbidden}
	// ErrNotAuthorized: error-not-authorized. Permanent.
	ErrNotAuthorized = &APIError{Type: TypeNotAuthorized}
	// ErrInvalidParams: the body or query failed validation. Permanent.
	ErrInvalidParams = &APIError{Type: TypeInvalidParams}
	// ErrInvalidRoom: no such omnichannel room. Permanent.
	ErrInvalidRoom = &APIError{Type: TypeInvalidRoom}
	// ErrRoomNotFound: no such room. Permanent.
	ErrRoomNotFound = &APIError{Type: TypeRoomNotFound}
	// ErrRoomClosed: the room is already closed. CloseRoom treats it as
	// success; other calls return it. Permanent.
	ErrRoomClosed = &APIError{Type: TypeRoomClosed}
	// ErrCommentRequired: the workspace requires a comment to close. Permanent.
	ErrCommentRequired = &APIError{Type: TypeCommentRequired}
	// ErrTagsRequired: the department requires tags to close. Permanent.
	ErrTagsRequired = &APIError{Type: TypeTagsRequired}
	// ErrCannotCloseTryAgain: a transient database failure while closing.
	// Retryable.
	ErrCannotCloseTryAgain = &APIError{Type: TypeCannotCloseTryAgain}
	// ErrMACLimitReached: the licence's monthly-active-contacts limit. Permanent.
	ErrMACLimitReached = &APIError{Type: TypeMACLimitReached}
	// ErrTooManyRequests: the route's rate limit. Retryable; see RetryAfter.
	ErrTooManyRequests = &APIError{Type: TypeTooManyRequests, StatusCode: http.StatusTooManyRequests}
	// ErrNotFound: a 404 (an unknown route, e.g. an endpoint removed in this
	// Rocket.Chat version). Permanent.
	ErrNotFound = &APIError{StatusCode: http.StatusNotFound}
)

// Errors of the client itself (not of the API).
var (
	// ErrMissingCredentials is returned by New without a user id and token.
	ErrMissingCredentials = errors.New("rocketchat: missing user id or auth token")
	// ErrInvalidOption is wrapped by New when an option's argument (or the
	// server URL) is invalid.
	ErrInvalidOption = errors.New("rocketchat: invalid option")
	// ErrInvalidArgument is wrapped by methods called with a missing or
	// invalid argument; no request is sent. Permanent.
	ErrInvalidArgument = errors.New("rocketchat: invalid argument")
	// ErrRateLimited is matched by the error a call returns, without sending,
	// when a route's X-RateLimit-Remaining reached 0 and its reset is further
	// away than the client waits (WithMaxRateLimitWait) or than ctx's
	// deadline. Retryable; RetryAfter gives the time until the reset.
	ErrRateLimited = errors.New("rocketchat: rate limited")
)

// APIError is a failed answer: any status but 200, or a 200 whose body says
// "success": false.
type APIError struct {
	// StatusCode is the HTTP status (200 for a success:false body).
	StatusCode int
	// Type is the error type (see the Type* constants), or "".
	Type string
	// Message is the "error" or "message" text, or the body text when the
	// body is not JSON.
	Message string
	// RetryAfter is when the route may be called again: from Retry-After or
	// X-RateLimit-Reset; 0 when unknown.
	RetryAfter time.Duration
	// Endpoint is the method and path, e.g. "POST /api/v1/livechat/room.forward".
	Endpoint string
}

// HTTPStatus is StatusCode (apiclient.StatusError).
func (e *APIError) HTTPStatus() int { return e.StatusCode }

// Error names the endpoint, status, type and message.
func (e *APIError) Error() string { return apiclient.Describe("rocketchat", e.Endpoint, e.Detail()) }

// Detail describes the error without naming the call: the status, the
// platform's error type or code, and its message (when it is not the type).
func (e *APIError) Detail() string {
	msg := e.Message
	if msg == e.Type {
		msg = ""
	}
	return apiclient.Detail(e.StatusCode, e.Type, msg)
}

// canonicalType folds the spellings of one condition together.
func canonicalType(t string) string {
	switch t {
	case TypeRoomAlreadyClosed, TypeInquiryRoomClosed:
		return TypeRoomClosed
	}
	return t
}

// Is reports whether target is an *APIError that e matches (see the
// sentinels).
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok {
		return false
	}
	if t.Type != "" && e.Type != "" {
		return canonicalType(t.Type) == canonicalType(e.Type)
	}
	if e.Type == "" {
		return t.StatusCode != 0 && t.StatusCode == e.StatusCode
	}
	return false
}

// permanentTypes are the known types that name a problem with the request,
// the permissions or the room's state.
var permanentTypes = map[string]bool{
	TypeInvalidParams: true, TypeUnauthorized: true, TypeNotAuthorized: true, TypeNotAllowed: true,
	TypeInvalidRoom: true, TypeRoomNotFound: true, TypeRoomClosed: true, TypeRoomAlreadyClosed: true,
	TypeInquiryRoomClosed: true, TypeCommentRequired: true, TypeTagsRequired: true, TypeMACLimitReached: true,
}

// Retryable reports whether repeating the request later may succeed: the
// types error-too-many-requests and error-room-cannot-be-closed-try-again,
// and errors of unknown type with status 429, 408 or 5xx.
func (e *APIError) Retryable() bool {
	switch {
	case e.Type == TypeTooManyRequests || e.Type == TypeCannotCloseTryAgain:
		return true
	case permanentTypes[e.Type]:
		return false
	}
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode >= 500
}

// RetryHint is RetryAfter (apiclient.RetryHinter).
func (e *APIError) RetryHint() time.Duration { return e.RetryAfter }

// IsRetryable is the one place that decides whether a failed call may be
// repeated. It is true for:
//   - API errors of type error-too-many-requests or
//     error-room-cannot-be-closed-try-again, and API errors without a known
//     type whose status is 429, 408 or 5xx;
//   - ErrRateLimited (the client did not wait for a rate-limit reset);
//   - transport failures: timeouts, network errors, connection
//     reset/refused/aborted, broken pipe, io.EOF, io.ErrUnexpectedEOF.
//
// It is false for nil, context.Canceled, every other API error (invalid
// params, permissions, invalid or closed room, 401, a 200 with
// success:false, ...), ErrInvalidArgument, and decoding errors. The decision
// is made on types, never on error text.
func IsRetryable(err error) bool {
	return httpcall.Retryable(err, ErrRateLimited, (*APIError).Retryable)
}

// RetryAfter returns when the call may be repeated: the RetryAfter of an
// *APIError (a 429's Retry-After or X-RateLimit-Reset), or the wait of an
// ErrRateLimited error.
func RetryAfter(err error) (time.Duration, bool) { return apiclient.RetryAfter(err) }
