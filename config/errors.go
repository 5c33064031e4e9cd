package config

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every problem Load, Parse and Validate report is a
// *FieldError naming the key, wrapping one of these; the problems of one
// file come joined with errors.Join, so test for them with errors.Is.
var (
	// ErrUnknownKey: the file has a key that is no setting (a typo, or a
	// setting of another version).
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicateKey: the file sets the same key twice in one mapping.
	ErrDuplicateKey = errors.New("key given more than once")
	// ErrWrongType: a value has the wrong shape or type for its key (text
	// for a number, a list for a mapping, a duration without a unit).
	ErrWrongType = errors.New("wrong type")
	// ErrEnv: a ${...} reference is malformed, or a ${NAME:?message}
	// variable is empty or unset.
	ErrEnv = errors.New("environment variable")
	// ErrInvalid: a value is out of range or contradicts another setting.
	ErrInvalid = errors.New("invalid value")
)

// FieldError is a problem with one setting.
type FieldError struct {
	// Key is the setting's path, e.g. "nats.partitions",
	// "livechat.webhook_secrets[1]" or "livechat.organizations.ORG.token".
	Key string
	// Line is the 1-based line in the file, or 0 when not known (errors
	// from Validate, which sees no file).
	Line int
	// Err says what is wrong; it wraps one of the sentinel errors.
	Err error
	// Env is the environment variable that set the key (see EnvVar), ""
	// when the file or the defaults did.
	Env string
}

// Error reads "nats.partitions: must be between 1 and 1024, got 0", with
// " (line N)" after the key when the line is known, or " (from
// CHATWARDEN_NATS_PARTITIONS)" when an environment variable set it.
func (e *FieldError) Error() string {
	if e.Env != "" {
		return fmt.Sprintf("%s (from %s): %v", e.Key, e.Env, e.Err)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %v", e.Key, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// kindError is the error of a FieldError: a message for people that matches
// a sentinel with errors.Is without repeating the sentinel's text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func fieldErr(key string, line int, kind error, format string, args ...any) *FieldError {
	return &FieldError{Key: key, Line: line, Err: &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}}
}
