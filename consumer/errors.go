package consumer

import (
	"errors"
	"fmt"
	"time"
)

// Dead-letter reasons (label "reason" of chatwarden_dead_letters_total, and
// DeadLetter.Reason).
const (
	ReasonPermanent   = "permanent"          // a failure that retrying cannot fix
	ReasonExhausted   = "attempts_exhausted" // retryable failures beyond workers.max_attempts
	ReasonUndecodable = "undecodable"        // the stored message is not an event
)

// ErrStopped is returned by Runner.Start when the runner was already stopped.
var ErrStopped = errors.New("consumer: runner stopped")

// ErrDeadLetterRefused is wrapped by a DeadLetterSink that cannot store an
// event's dead letter because of the event itself (neither in full nor
// reduced), as opposed to the broker being unavailable: retrying would fail
// the same way, so the runner terminates the event with an error log.
var ErrDeadLetterRefused = errors.New("consumer: dead letter refused")

// PermanentError marks a failure that retrying cannot fix (validation, not
// found, authorization, missing configuration). The runner dead-letters the
// event at once.
type PermanentError struct {
	Reason string // short machine-readable cause, e.g. "validation"
	Err    error
}

func (e *PermanentError) Error() string { return fmt.Sprintf("permanent (%s): %v", e.Reason, e.Err) }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure with a short reason.
func Permanent(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Reason: reason, Err: err}
}

// RetryableError marks a failure worth retrying later; After is the
// platform's hint (Retry-After), zero when it gave none.
type RetryableError struct {
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string { return "retryable: " + e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retry wraps err as retryable, honouring the platform's hint after (zero for
// none).
func Retry(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{After: after, Err: err}
}

// ActionError names the rule and the action an error came from, so that dead
// letters and logs can say which.
type ActionError struct {
	Rule   string
	Action string
	Err    error
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("rule %s, action %s: %v", e.Rule, e.Action, e.Err)
}
func (e *ActionError) Unwrap() error { return e.Err }

// Classify decides what the runner does with a handler's error: nil means
// success; permanent errors are dead-lettered at once; everything else is
// retried, after hint when the error carries one. The outermost
// classification wins (Retry(Permanent(...)) is retryable). Errors that say
// nothing about themselves are treated as retryable: a bounded retry is safer
// than dropping an event for a network blip.
func Classify(err error) (permanent bool, hint time.Duration) {
	switch e := find(err).(type) {
	case *PermanentError:
		return true, 0
	case *RetryableError:
		return false, e.After
	}
	return false, 0
}

// find returns the first PermanentError or RetryableError in err's tree,
// outermost first (depth-first, in the order errors.As visits).
func find(err error) error {
	for err != nil {
		switch err.(type) {
		case *PermanentError, *RetryableError:
			return err
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if f := find(e); f != nil {
					return f
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
