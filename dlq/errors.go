package dlq

import "errors"

var (
	// ErrNotFound means no dead letter matches the reference (a CHATWARDEN_DLQ
	// sequence number or an event id). Errors wrapping it read
	// "no dead letter <ref>".
	ErrNotFound = errors.New("no dead letter")

	// ErrAmbiguous means an event id matches several dead letters (the event
	// was dead-lettered again after a retry and the older one was kept); the
	// error lists their sequence numbers, which are unique.
	ErrAmbiguous = errors.New("ambiguous dead-letter reference")

	// ErrNotRetryable means the dead letter holds no event that can be
	// published again (an undecodable message). Inspect it and purge it.
	ErrNotRetryable = errors.New("cannot be retried")

	// ErrInvalidArgument marks a bad filter, reference, time or duration:
	// the caller's mistake (exit status 2, HTTP 400), not a failure.
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrNoStream means the dead-letter stream does not exist: chatwarden
	// has not run against this NATS server or data directory.
	ErrNoStream = errors.New("the dead-letter stream CHATWARDEN_DLQ does not exist")
)
