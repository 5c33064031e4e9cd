package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors of the package.
var (
	// ErrConflict is wrapped by Store.Save when the stored revision changed
	// since it was read (another process wrote first).
	ErrConflict = errors.New("oauth: state changed concurrently")
	// ErrMissingConfig is returned by NewSource without a client id, client
	// secret or refresh token.
	ErrMissingConfig = errors.New("oauth: client_id, client_secret and refresh_token are required")
	// ErrRejected is wrapped when an access token renewed moments ago is
	// refused again: rather than mint tokens in a loop (LiveChat keeps at
	// most 25 per user and client, revoking the oldest), the source refuses
	// to renew for MinRenewInterval. Permanent.
	ErrRejected = errors.New("oauth: a freshly renewed access token was rejected")
	// ErrUnreadable is wrapped by KVStore.Load when a stored value is
	// encrypted and cannot be opened: no keyring, a key id the keyring does
	// not hold, or a value that fails authentication. Permanent: it needs
	// the operator (the error says what to do).
	ErrUnreadable = errors.New("oauth: the stored OAuth state cannot be decrypted")
)

// TokenError is a failed answer of the token endpoint.
type TokenError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the OAuth error code ("invalid_grant", "invalid_client", ...)
	// or the platform's error type; "" when the body had neither.
	Code string
	// Description is the error description or message, or the body text.
	Description string
	// RetryAfter is the Retry-After header, 0 when absent.
	RetryAfter time.Duration
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("oauth: renewing the LiveChat access token: HTTP %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Retryable reports whether asking again later may succeed: 429, 408 and
// 5xx. Every other answer (an invalid or revoked refresh token, a wrong
// client secret) needs the operator.
func (e *TokenError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}
