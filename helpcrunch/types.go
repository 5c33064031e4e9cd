package helpcrunch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Status is a chat status. The six settable ones are the Status* constants,
// spelled as the update-status page documents them
// (https://docs.helpcrunch.com/pl/rest-api-v1/update-chat-status-v1).
//
// The documentation spells "on hold" three ways ("on hold", "onhold" on the
// chat-model page, "on-hold" in a third-party client); ParseStatus and
// decoding accept every variant and normalise it. The chat model also lists
// "empty", which cannot be set; unknown values (including the numeric
// strings search examples use) are kept as received when decoding.
type Status string

// Settable chat statuses.
const (
	StatusNew             Status = "new"
	StatusOpened          Status = "opened"
	StatusPending         Status = "pending"
	StatusOnHold          Status = "on hold"
	StatusNoCommunication Status = "no communication"
	StatusClosed          Status = "closed"
)

// Statuses returns the six settable statuses.
func Statuses() []Status {
	return []Status{StatusNew, StatusOpened, StatusPending, StatusOnHold, StatusNoCommunication, StatusClosed}
}

// ParseStatus returns the documented spelling of s. It ignores case and
// surrounding space and accepts '-', '_' or nothing in place of the space
// ("on-hold", "on_hold", "onhold", "ON HOLD"; "no_communication", ...). Other
// names fail with an error wrapping ErrInvalidArgument and ErrInvalidStatus.
func ParseStatus(s string) (Status, error) {
	if st, ok := normalizeStatus(s); ok {
		return st, nil
	}
	return "", fmt.Errorf("%w: %w %q (want one of new, opened, pending, on hold, no communication, closed)",
		ErrInvalidArgument, ErrInvalidStatus, s)
}

func normalizeStatus(s string) (Status, bool) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.NewReplacer("-", "", "_", "", " ", "").Replace(k)
	switch k {
	case "new":
		return StatusNew, true
	case "opened":
		return StatusOpened, true
	case "pending":
		return StatusPending, true
	case "onhold":
		return StatusOnHold, true
	case "nocommunication":
		return StatusNoCommunication, true
	case "closed":
		return StatusClosed, true
	}
	return "", false
}

// Valid reports whether s is one of the six settable statuses, exactly as
// documented.
func (s Status) Valid() bool {
	st, ok := normalizeStatus(string(s))
	return ok && st == s
}

// UnmarshalJSON accepts a string or a number; a known status in any spelling
// becomes its documented spelling, anything else is kept as received.
func (s *Status) UnmarshalJSON(b []byte) error {
	raw, err := stringOrNumber(b)
	if err != nil {
		return fmt.Errorf("chat status: %w", err)
	}
	if st, ok := normalizeStatus(raw); ok {
		*s = st
		return nil
	}
	*s = Status(raw)
	return nil
}

// stringOrNumber decodes a JSON string or number (or null → "") as text.
func stringOrNumber(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return "", nil
	}
	if b[0] == '"' {
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return "", fmt.Errorf("want a string or a number, got %.20s", b)
	}
	return n.String(), nil
}

// Timestamp is a HelpCrunch time. The API and webhooks send unix seconds as
// an integer (1603885746), a string ("1603885746") or a string with a
// fraction ("1607542030.713"); null and "" are the zero Timestamp. It is
// written back as a string of unix seconds, with milliseconds when it has a
// fraction, and null when zero.
type Timestamp struct{ time.Time }

// At returns t as a Timestamp in UTC, truncated to milliseconds (the
// precision HelpCrunch writes).
func At(t time.Time) Timestamp { return Timestamp{t.UTC().Truncate(time.Millisecond)} }

// UnmarshalJSON reads every form described on Timestamp.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	raw, err := stringOrNumber(b)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if raw == "" {
		*t = Timestamp{}
		return nil
	}
	secs, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return fmt.Errorf("timestamp: %q is not unix seconds", raw)
	}
	whole, frac := math.Modf(secs)
	*t = Timestamp{time.Unix(int64(whole), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()}
	return nil
}

// MarshalJSON writes unix seconds as a string, or null for the zero time.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UnixString())
}

// UnixString is the timestamp as HelpCrunch writes it: unix seconds, with three
// decimals when it has a sub-second part.
func (t Timestamp) UnixString() string {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10)
	}
	return fmt.Sprintf("%d.%03d", floorDiv(ms, 1000), ms-floorDiv(ms, 1000)*1000)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ParseChatID converts a chat id as stored in events (a decimal string) to
// the integer the API wants. It fails with ErrInvalidArgument for anything
// but a positive integer.
func ParseChatID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: chat id %q is not a positive integer", ErrInvalidArgument, s)
	}
	return id, nil
}

// Agent is a team member (an assignee or one of a chat's agents).
type Agent struct {
	ID    int64  `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role,omitempty"`
}

// Customer is the customer of a chat.
type Customer struct {
	ID     int64  `json:"id"`
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	UserID string `json:"userId,omitempty"`
}

// Department is a chat's department.
type Department struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
}

// Chat is a HelpCrunch chat, as returned by get-chat, the list and search
// calls, and every update call (which answer the whole chat after the
// change). See https://docs.helpcrunch.com/pl/rest-api-v1/chat-model-v1
type Chat struct {
	ID                      int64       `json:"id"`
	Status                  Status      `json:"status,omitempty"`
	ClosedBy                string      `json:"closedBy,omitempty"`
	ClosedAt                Timestamp   `json:"closedAt,omitzero"`
	CreatedAt               Timestamp   `json:"createdAt,omitzero"`
	LastMessageAt           Timestamp   `json:"lastMessageAt,omitzero"`
	LastCustomerMessageAt   Timestamp   `json:"lastCustomerMessageAt,omitzero"`
	SnoozedUntil            Timestamp   `json:"snoozedUntil,omitzero"`
	Rating                  string      `json:"rating,omitempty"`
	CreatedWith             string      `json:"createdWith,omitempty"`
	LastMessageText         string      `json:"lastMessageText,omitempty"`
	LastMessageID           int64       `json:"lastMessageId,omitempty"`
	ApplicationID           int64       `json:"applicationId,omitempty"`
	LastCommunicatedAgentID int64       `json:"lastCommunicatedAgentId,omitempty"`
	Agents                  []Agent     `json:"agents,omitempty"`
	Customer                *Customer   `json:"customer,omitempty"`
	Assignee                *Agent      `json:"assignee,omitempty"`
	Department              *Department `json:"department,omitempty"`
}

// Unassigned reports whether the chat has no assignee.
func (c *Chat) Unassigned() bool { return c.Assignee == nil || c.Assignee.ID == 0 }

// Snoozed reports whether the chat is snoozed at now.
func (c *Chat) Snoozed(now time.Time) bool {
	return !c.SnoozedUntil.IsZero() && c.SnoozedUntil.After(now)
}
