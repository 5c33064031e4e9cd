package rules

import (
	"encoding/json"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// Env is what a rule's `if` expression sees. Field names are the
// expression's names (the expr tags).
//
//	event.platform, event.action, event.tenant, event.chat_id, event.thread_id,
//	event.source, event.received_at, event.age, event.payload
//	chat.id, chat.thread_id, chat.active, chat.unassigned, chat.pinned,
//	chat.properties, chat.thread_properties, chat.group_ids, chat.tags,
//	chat.users, chat.agents, chat.customer, chat.created_at,
//	chat.last_message_at, chat.age, chat.idle, chat.enriched
//	now()                                  the evaluation time
//	duration("48h")                        a duration literal (expr built-in)
type Env struct {
	Event EventEnv         `expr:"event"`
	Chat  ChatEnv          `expr:"chat"`
	Now   func() time.Time `expr:"now"`
}

// EventEnv describes the event being handled.
type EventEnv struct {
	ID         string         `expr:"id"`
	Platform   string         `expr:"platform"`
	Action     string         `expr:"action"`
	Tenant     string         `expr:"tenant"`
	ChatID     string         `expr:"chat_id"`
	ThreadID   string         `expr:"thread_id"`
	Source     string         `expr:"source"` // webhook, sweep, recheck, replay
	ReceivedAt time.Time      `expr:"received_at"`
	Age        time.Duration  `expr:"age"`     // now() - received_at
	Payload    map[string]any `expr:"payload"` // the platform's payload, decoded
}

// ChatEnv describes the chat of the event: from the webhook's own data, or
// the chat's current state when the rule asks for `enrich: chat`.
type ChatEnv struct {
	ID               string                    `expr:"id"`
	ThreadID         string                    `expr:"thread_id"`
	Active           bool                      `expr:"active"`
	Unassigned       bool                      `expr:"unassigned"` // latest thread's routing.unassigned
	Pinned           bool                      `expr:"pinned"`     // chat-level routing.pinned
	Properties       map[string]map[string]any `expr:"properties"`
	ThreadProperties map[string]map[string]any `expr:"thread_properties"`
	GroupIDs         []int                     `expr:"group_ids"`
	Tags             []string                  `expr:"tags"`
	Users            []UserEnv                 `expr:"users"`
	Agents           []UserEnv                 `expr:"agents"`
	Customer         UserEnv                   `expr:"customer"` // zero when unknown
	CreatedAt        time.Time                 `expr:"created_at"`
	LastMessageAt    time.Time                 `expr:"last_message_at"`
	Age              time.Duration             `expr:"age"`      // now() - created_at; 0 when unknown
	Idle             time.Duration             `expr:"idle"`     // now() - last_message_at (or age)
	Enriched         bool                      `expr:"enriched"` // state fetched from the API
}

// UserEnv is a chat user.
type UserEnv struct {
	ID      string `expr:"id"`
	Type    string `expr:"type"` // agent or customer
	Name    string `expr:"name"`
	Email   string `expr:"email"`
	Present bool   `expr:"present"`
}

// newEventEnv describes ev. The payload is decoded only when decode is set
// (some rule reads event.payload).
func newEventEnv(ev *event.Event, now time.Time, decode bool) EventEnv {
	e := EventEnv{
		ID: ev.ID, Platform: ev.Platform, Action: ev.Action, Tenant: ev.Tenant,
		ChatID: ev.ChatID, ThreadID: ev.ThreadID, Source: ev.Source, ReceivedAt: ev.ReceivedAt,
	}
	if !ev.ReceivedAt.IsZero() {
		e.Age = now.Sub(ev.ReceivedAt)
	}
	if decode && len(ev.Payload) > 0 {
		_ = json.Unmarshal(ev.Payload, &e.Payload)
	}
	return e
}

// PayloadString reads a top-level string field of a JSON payload.
func PayloadString(payload json.RawMessage, field string) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return "", false
	}
	var s string
	if json.Unmarshal(m[field], &s) != nil || s == "" {
		return "", false
	}
	return s, true
}
