package console

import "errors"

var (
	// ErrNoStream means a stream the console reads does not exist:
	// chatwarden has not run against this NATS server yet (HTTP 503).
	ErrNoStream = errors.New("stream does not exist")

	// ErrInvalidArgument marks a bad query parameter: a missing chat id, a
	// limit out of range, an unknown platform (HTTP 400).
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrNoRules means the process has no rule set to show (HTTP 503 with
	// the loading error).
	ErrNoRules = errors.New("no rules")
)
