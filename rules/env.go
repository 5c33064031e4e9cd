package rules

import (
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
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
		_ = decodeJSON(ev.Payload, &e.Payload)
	}
	return e
}

// jsonDecodes counts the decodes of an event's JSON (payload, additional
// data) by the rules, so that tests can tell each part is decoded once per
// event however many rules read it.
var jsonDecodes atomic.Int64

// decodeJSON is json.Unmarshal of a part of an event, counted.
func decodeJSON(data []byte, v any) error {
	jsonDecodes.Add(1)
	return json.Unmarshal(data, v)
}

// eventProperties are the chat's current properties the webhook carries
// (additional_data.chat_properties), nil when it carries none.
func eventProperties(ev *event.Event) livechat.Properties {
	if len(ev.AdditionalData) == 0 {
		return nil
	}
	var ad struct {
		ChatProperties livechat.Properties `json:"chat_properties"`
	}
	if decodeJSON(ev.AdditionalData, &ad) != nil {
		return nil
	}
	return ad.ChatProperties
}

// chatFromEvent builds what the webhook itself says about the chat:
// incoming_chat carries the whole chat; additional_data.chat_properties
// carries current properties; otherwise only the ids are known.
func chatFromEvent(ev *event.Event) *livechat.Chat { return chatFromEventWith(ev, eventProperties(ev)) }

// chatFromEventWith is chatFromEvent with the event's properties decoded
// already (see evaluation.properties).
func chatFromEventWith(ev *event.Event, props livechat.Properties) *livechat.Chat {
	c := &livechat.Chat{ID: ev.ChatID}
	if ev.Platform == event.LiveChat && ev.Action == "incoming_chat" {
		var p struct {
			Chat livechat.Chat `json:"chat"`
		}
		if decodeJSON(ev.Payload, &p) == nil && p.Chat.ID != "" {
			c = &p.Chat
		}
	}
	if props != nil {
		c.Properties = props
	}
	if c.Thread == nil && ev.ThreadID != "" {
		c.Thread = &livechat.Thread{ID: ev.ThreadID}
	}
	return c
}

// newChatEnv describes c at time now.
func newChatEnv(c *livechat.Chat, now time.Time, enriched bool) ChatEnv {
	e := ChatEnv{
		ID: c.ID, Active: c.Active(), Unassigned: c.Unassigned(), Pinned: c.Pinned(),
		Properties: c.Properties, GroupIDs: c.GroupIDs(), Enriched: enriched,
	}
	for _, u := range c.Users {
		ue := UserEnv{ID: u.ID, Type: u.Type, Name: u.Name, Email: u.Email, Present: u.Present}
		e.Users = append(e.Users, ue)
		switch u.Type {
		case livechat.UserAgent:
			e.Agents = append(e.Agents, ue)
		case livechat.UserCustomer:
			if e.Customer.ID == "" {
				e.Customer = ue
			}
		}
	}
	if t := c.Thread; t != nil {
		e.ThreadID = t.ID
		e.ThreadProperties = t.Properties
		e.Tags = t.Tags
		e.CreatedAt = t.CreatedAt
		for _, ev := range t.Events {
			if ev.Type == "message" || ev.Type == "file" || ev.Type == "rich_message" {
				if ev.CreatedAt.After(e.LastMessageAt) {
					e.LastMessageAt = ev.CreatedAt
				}
			}
			if e.CreatedAt.IsZero() || (!ev.CreatedAt.IsZero() && ev.CreatedAt.Before(e.CreatedAt)) {
				e.CreatedAt = ev.CreatedAt
			}
		}
	}
	if !e.CreatedAt.IsZero() {
		e.Age = now.Sub(e.CreatedAt)
		e.Idle = e.Age
	}
	if !e.LastMessageAt.IsZero() {
		e.Idle = now.Sub(e.LastMessageAt)
	}
	return e
}

// payloadString reads a top-level string field of a JSON payload.
func payloadString(payload json.RawMessage, field string) (string, bool) {
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
