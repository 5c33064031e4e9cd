package livechat

import (
	"encoding/json"
	"time"
)

// Properties are LiveChat properties: namespace → name → value. Values come
// from JSON, so numbers are float64. See
// https://platform.text.com/docs/messaging/references/default-properties
type Properties map[string]map[string]any

// Get returns the value of ns.name and whether it is set.
func (p Properties) Get(ns, name string) (any, bool) {
	v, ok := p[ns][name]
	return v, ok
}

// Bool returns ns.name as a bool; ok is false when it is unset or not a bool.
func (p Properties) Bool(ns, name string) (v bool, ok bool) {
	v, ok = p[ns][name].(bool)
	return v, ok
}

// String returns ns.name as a string; ok is false when it is unset or not a
// string.
func (p Properties) String(ns, name string) (v string, ok bool) {
	v, ok = p[ns][name].(string)
	return v, ok
}

// Routing property namespace and the names the service reads or writes.
const (
	NSRouting               = "routing"
	PropPinned              = "pinned"
	PropUnassigned          = "unassigned"
	PropWasPinned           = "was_pinned"
	PropIgnoreAgentsRouting = "ignore_agents_routing"
)

// Access lists the groups a chat or thread belongs to.
type Access struct {
	GroupIDs []int `json:"group_ids,omitempty"`
}

// User is a chat user: a customer or an agent (bots are agents).
type User struct {
	ID         string `json:"id"`
	Type       string `json:"type"` // UserAgent or UserCustomer
	Name       string `json:"name,omitempty"`
	Email      string `json:"email,omitempty"`
	Present    bool   `json:"present,omitempty"`
	Visibility string `json:"visibility,omitempty"`
}

// User types.
const (
	UserAgent    = "agent"
	UserCustomer = "customer"
)

// Event is an event of a thread. The common fields are decoded; Raw keeps the
// whole object as received, and is what Marshal writes back when set.
type Event struct {
	ID         string     `json:"id,omitempty"`
	Type       string     `json:"type,omitempty"`
	Text       string     `json:"text,omitempty"`
	AuthorID   string     `json:"author_id,omitempty"`
	Visibility string     `json:"visibility,omitempty"`
	CustomID   string     `json:"custom_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at,omitzero"`
	Properties Properties `json:"properties,omitempty"`
	// Raw is the event as received, including fields not decoded above.
	Raw json.RawMessage `json:"-"`
}

type eventFields Event

// UnmarshalJSON decodes the common fields and keeps the raw object.
func (e *Event) UnmarshalJSON(b []byte) error {
	var f eventFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*e = Event(f)
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes Raw when set, else the common fields.
func (e Event) MarshalJSON() ([]byte, error) {
	if len(e.Raw) > 0 {
		return e.Raw, nil
	}
	return json.Marshal(eventFields(e))
}

// Thread is one thread of a chat. A chat has one thread per conversation;
// only the latest can be active.
type Thread struct {
	ID               string     `json:"id"`
	Active           bool       `json:"active"`
	UserIDs          []string   `json:"user_ids,omitempty"`
	Events           []Event    `json:"events,omitempty"`
	Properties       Properties `json:"properties,omitempty"`
	Access           Access     `json:"access"`
	Tags             []string   `json:"tags,omitempty"`
	CreatedAt        time.Time  `json:"created_at,omitzero"`
	PreviousThreadID string     `json:"previous_thread_id,omitempty"`
	NextThreadID     string     `json:"next_thread_id,omitempty"`
}

// Chat is a chat with one of its threads (get_chat: the requested or latest
// thread; list_archives: the thread of that row).
type Chat struct {
	ID         string     `json:"id"`
	Thread     *Thread    `json:"thread,omitempty"`
	Users      []User     `json:"users,omitempty"`
	Properties Properties `json:"properties,omitempty"`
	Access     Access     `json:"access"`
	IsFollowed bool       `json:"is_followed,omitempty"`
}

// Pinned reports whether the chat-level property routing.pinned is true
// (pinned is read-write at chat level; the thread copy is read-only).
func (c *Chat) Pinned() bool {
	v, _ := c.Properties.Bool(NSRouting, PropPinned)
	return v
}

// Unassigned reports whether routing.unassigned is true on the chat's thread.
// LiveChat keeps unassigned on the thread; the chat-level value is used only
// when the thread lacks the property (or there is no thread).
func (c *Chat) Unassigned() bool {
	var thread Properties
	if c.Thread != nil {
		thread = c.Thread.Properties
	}
	return unassigned(thread, c.Properties)
}

// Active reports whether the chat's thread is active.
func (c *Chat) Active() bool { return c.Thread != nil && c.Thread.Active }

// GroupIDs returns the thread's groups, or the chat's when the thread has
// none.
func (c *Chat) GroupIDs() []int {
	if c.Thread != nil && len(c.Thread.Access.GroupIDs) > 0 {
		return c.Thread.Access.GroupIDs
	}
	return c.Access.GroupIDs
}

func unassigned(thread, chat Properties) bool {
	if v, ok := thread.Bool(NSRouting, PropUnassigned); ok {
		return v
	}
	v, _ := chat.Bool(NSRouting, PropUnassigned)
	return v
}

// ThreadSummary is the last_thread_summary of a list_chats row.
type ThreadSummary struct {
	ID         string     `json:"id"`
	CreatedAt  time.Time  `json:"created_at,omitzero"`
	UserIDs    []string   `json:"user_ids,omitempty"`
	Properties Properties `json:"properties,omitempty"`
	Active     bool       `json:"active"`
	Access     Access     `json:"access"`
	Tags       []string   `json:"tags,omitempty"`
}

// ChatSummary is one row of list_chats.
type ChatSummary struct {
	ID                string         `json:"id"`
	LastThreadSummary *ThreadSummary `json:"last_thread_summary,omitempty"`
	// LastEventPerType is kept raw: type → {thread_id, thread_created_at, event}.
	LastEventPerType json.RawMessage `json:"last_event_per_type,omitempty"`
	Users            []User          `json:"users,omitempty"`
	Properties       Properties      `json:"properties,omitempty"`
	Access           Access          `json:"access"`
	IsFollowed       bool            `json:"is_followed,omitempty"`
}

// Pinned reports whether the chat-level routing.pinned is true.
func (c *ChatSummary) Pinned() bool {
	v, _ := c.Properties.Bool(NSRouting, PropPinned)
	return v
}

// Unassigned reports routing.unassigned of the last thread, falling back to
// the chat level when the thread lacks it.
func (c *ChatSummary) Unassigned() bool {
	var thread Properties
	if c.LastThreadSummary != nil {
		thread = c.LastThreadSummary.Properties
	}
	return unassigned(thread, c.Properties)
}

// Active reports whether the last thread is active.
func (c *ChatSummary) Active() bool { return c.LastThreadSummary != nil && c.LastThreadSummary.Active }

// Event types SendEvent sends.
const (
	EventMessage       = "message"
	EventSystemMessage = "system_message"
)

// OutgoingEvent is an event sent with SendEvent, in the v3.6 shape. Type is
// required ("message", "system_message", ...); a system message also needs
// SystemMessageType (since v3.4; it replaced the old `recipients` with
// Visibility). The other fields are sent when set. See
// https://platform.text.com/docs/messaging/agent-chat-api/data-structures#events
type OutgoingEvent struct {
	Type       string     `json:"type"`
	Text       string     `json:"text,omitempty"`
	Visibility string     `json:"visibility,omitempty"` // "all" (API default) or "agents"
	CustomID   string     `json:"custom_id,omitempty"`
	Properties Properties `json:"properties,omitempty"`
	// SystemMessageType names a system message's kind (required for
	// type "system_message", e.g. "chatwarden.note"); unset for messages.
	SystemMessageType string `json:"system_message_type,omitempty"`
}

// Message returns a message event with text, visible to everyone.
func Message(text string) OutgoingEvent {
	return OutgoingEvent{Type: EventMessage, Text: text, Visibility: "all"}
}

// SystemMessage returns a system message of kind typ with text, visible to
// visibility ("all", or "agents" for an internal note; "" means "all").
func SystemMessage(typ, text, visibility string) OutgoingEvent {
	if visibility == "" {
		visibility = "all"
	}
	return OutgoingEvent{Type: EventSystemMessage, Text: text, Visibility: visibility, SystemMessageType: typ}
}

// TransferChatRequest is the body of transfer_chat. ChatID is required. A nil
// Target transfers within the chat's current group.
type TransferChatRequest struct {
	ChatID                   string          `json:"id"`
	Target                   *TransferTarget `json:"target,omitempty"`
	IgnoreAgentsAvailability bool            `json:"ignore_agents_availability,omitempty"`
	IgnoreRequesterPresence  bool            `json:"ignore_requester_presence,omitempty"`
}

// TransferTarget names the groups or agents a chat is transferred to. Build
// it with ToGroups or ToAgents.
type TransferTarget struct {
	Type string `json:"type"` // "group" or "agent"
	IDs  []any  `json:"ids"`  // group ids (int) or agent ids (string)
}

// ToGroups is a transfer target of groups.
func ToGroups(ids ...int) *TransferTarget {
	t := &TransferTarget{Type: "group", IDs: make([]any, len(ids))}
	for i, id := range ids {
		t.IDs[i] = id
	}
	return t
}

// ToAgents is a transfer target of agents.
func ToAgents(ids ...string) *TransferTarget {
	t := &TransferTarget{Type: "agent", IDs: make([]any, len(ids))}
	for i, id := range ids {
		t.IDs[i] = id
	}
	return t
}

// Routing statuses for SetRoutingStatus. RoutingOffline is for bots only.
const (
	RoutingAcceptingChats    = "accepting_chats"
	RoutingNotAcceptingChats = "not_accepting_chats"
	RoutingOffline           = "offline"
)
