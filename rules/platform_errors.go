package rules

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/consumer"
)

// PlatformErrors is what a platform's client package says about its
// errors, for Classify. Every field is required.
type PlatformErrors struct {
	Retryable  func(error) bool                  // the package's one retry decision
	RetryAfter func(error) (time.Duration, bool) // the package's wait hint
	Reason     func(error) string                // a permanent failure's name, "" when it has none
	Status     func(error) int                   // the API answer's HTTP status, 0 when no answer came
}

// Classify maps a platform call's error onto the runner's retry policy:
// retryable (by the client package's decision, or because ctx ended) with
// the package's wait hint, marked as an outage (consumer.Outage) when no
// answer came or the answer was a 5xx; a circuit breaker's wait
// (consumer.Waiter) is retryable, an outage; otherwise permanent, named by
// p.Reason, "no credentials", or "error". An error already classified is
// returned as it is; nil stays nil.
func (p PlatformErrors) Classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[consumer.Waiter](err); ok {
		// The platform's circuit breaker is open: the runner waits.
		return consumer.Retry(consumer.Outage(err), 0)
	}
	if isClassified(err) {
		return err
	}
	if ctx.Err() != nil || p.Retryable(err) {
		after, _ := p.RetryAfter(err)
		// An outage: no answer (and no rate-limit hint), or a 5xx.
		if status := p.Status(err); status >= 500 || status == 0 && after == 0 {
			err = consumer.Outage(err)
		}
		return consumer.Retry(err, after)
	}
	reason := p.Reason(err)
	if reason == "" {
		reason = "error"
		if errors.Is(err, ErrNoCredentials) {
			reason = "no credentials"
		}
	}
	return consumer.Permanent(reason, err)
}

// StatusReason names a permanent failure by its HTTP status: validation (400,
// 422), authentication (401), authorization (403), not_found (404); "" for
// other statuses.
func StatusReason(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "validation"
	case http.StatusUnauthorized:
		return "authentication"
	case http.StatusForbidden:
		return "authorization"
	case http.StatusNotFound:
		return "not_found"
	}
	return ""
}
