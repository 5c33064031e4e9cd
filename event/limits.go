package event

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Bounds on the identifying fields of an event. The webhook receivers refuse
// (400) a delivery whose action, ids or organization exceed them, so every
// stored event respects them and the rest of the pipeline (NATS subjects,
// key-value keys, metric labels, logs) can rely on them: an event field
// checked by CheckBounds is at most MaxFieldLen bytes of valid UTF-8 with no
// control character.
//
// The limits leave ample room over what the platforms send (see
// reference/livechat.md and reference/other-platforms.md):
//   - actions: the longest LiveChat action is 31 bytes
//     ("customer_session_fields_updated"), the longest Rocket.Chat type 24
//     ("LivechatSessionForwarded"), the longest HelpCrunch event 25;
//   - ids: LiveChat chat and thread ids are about 10 characters, webhook ids
//     32 hex digits, Rocket.Chat ids 17 to 24 characters, HelpCrunch ids
//     numbers or uuid-like strings (36);
//   - organizations: LiveChat organization ids are UUIDs (36 bytes); older
//     payloads carried a numeric license id.
const (
	// MaxActionLen bounds Event.Action (LiveChat action, HelpCrunch event
	// name, Rocket.Chat type), in bytes.
	MaxActionLen = 128
	// MaxIDLen bounds Event.ChatID, Event.ThreadID and Event.WebhookID, and
	// any other platform id a receiver reads (e.g. HelpCrunch's event id), in
	// bytes.
	MaxIDLen = 128
	// MaxTenantLen bounds Event.Tenant (LiveChat organization_id, HelpCrunch
	// organization), in bytes.
	MaxTenantLen = 128
	// MaxFieldLen is the largest of the bounds above: no field checked by
	// CheckBounds is longer.
	MaxFieldLen = max(MaxActionLen, MaxIDLen, MaxTenantLen)
)

// ErrOutOfBounds is wrapped by CheckField and CheckBounds: a field is too
// long, not valid UTF-8, or contains a control character.
var ErrOutOfBounds = errors.New("field out of bounds")

// BoundsError says which field broke which bound. It wraps ErrOutOfBounds.
type BoundsError struct {
	// Field is the field's name as the sender spells it (e.g. "chat_id",
	// "type").
	Field string
	// Len is the field's length in bytes; Max its bound.
	Len, Max int
	// Problem is "" when the field is too long, else what is wrong with its
	// characters.
	Problem string
}

func (e *BoundsError) Error() string {
	if e.Problem != "" {
		return fmt.Sprintf("%s %s", e.Field, e.Problem)
	}
	return fmt.Sprintf("%s is %d bytes; at most %d allowed", e.Field, e.Len, e.Max)
}

// Unwrap makes errors.Is(err, ErrOutOfBounds) true.
func (e *BoundsError) Unwrap() error { return ErrOutOfBounds }

// CheckField checks that v is at most maxLen bytes of valid UTF-8 without
// control characters (C0, DEL, C1: unicode.IsControl). The error, a
// *BoundsError, names field and the limit, e.g. "action is 5000 bytes; at
// most 128 allowed". The empty string passes.
func CheckField(field, v string, maxLen int) error {
	if len(v) > maxLen {
		return &BoundsError{Field: field, Len: len(v), Max: maxLen}
	}
	for i, r := range v {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(v[i:]); size == 1 {
				return &BoundsError{Field: field, Len: len(v), Max: maxLen, Problem: "is not valid UTF-8"}
			}
		}
		if unicode.IsControl(r) {
			return &BoundsError{Field: field, Len: len(v), Max: maxLen,
				Problem: fmt.Sprintf("contains a control character (%U at byte %d)", r, i)}
		}
	}
	return nil
}

// CheckBounds checks Action, ChatID, ThreadID, WebhookID and Tenant with
// CheckField against MaxActionLen, MaxIDLen and MaxTenantLen. names maps the
// event's JSON field names ("action", "chat_id", "thread_id", "webhook_id",
// "tenant") to the sender's names for the error message; a name it lacks is
// used as is (names may be nil).
func (e *Event) CheckBounds(names map[string]string) error {
	checks := [...]struct {
		field, v string
		max      int
	}{
		{"action", e.Action, MaxActionLen},
		{"chat_id", e.ChatID, MaxIDLen},
		{"thread_id", e.ThreadID, MaxIDLen},
		{"webhook_id", e.WebhookID, MaxIDLen},
		{"tenant", e.Tenant, MaxTenantLen},
	}
	for _, c := range checks {
		name := c.field
		if n, ok := names[c.field]; ok {
			name = n
		}
		if err := CheckField(name, c.v, c.max); err != nil {
			return err
		}
	}
	return nil
}
