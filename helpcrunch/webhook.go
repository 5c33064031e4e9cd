package helpcrunch

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// SignatureHeader carries the signature of every webhook delivery: the hex
// HMAC-SHA1 of the raw body keyed with the account's "HTTP Webhook Signing
// Key" (Settings → Developers → Webhooks).
// https://docs.helpcrunch.com/webhooks/setting-up-webhooks
const SignatureHeader = "X-HelpCrunch-Signature"

// Webhook event names (one event type per webhook registration).
// https://docs.helpcrunch.com/en/webhooks/chat-webhooks,
// https://docs.helpcrunch.com/pl/webhooks/message-webhooks,
// https://docs.helpcrunch.com/webhooks/customer-webhooks
const (
	EventChatNew           = "chat.new"
	EventChatStatusUpdated = "chat.status_updated"
	EventChatAssigned      = "chat.assigned"
	EventChatSnoozed       = "chat.snoozed"
	EventChatUnsnoozed     = "chat.unsnoozed"
	EventChatClosed        = "chat.closed"
	EventChatRated         = "chat.rated"

	EventMessageChatCustomer  = "message.chat.customer"
	EventMessageEmailCustomer = "message.email.customer"
	EventMessagePrivate       = "message.private"
	EventMessageChatAgent     = "message.chat.agent"
	EventMessageEmailAgent    = "message.email.agent"

	EventCustomerNew          = "customer.new"
	EventCustomerEmailUpdated = "customer.email_updated"
	EventCustomerTagsChanged  = "customer.tags_changed"
	EventCustomerUnsubscribed = "customer.unsubscribed"
	EventCustomerSubscribed   = "customer.subscribed"
	EventCustomerBlocked      = "customer.blocked"
	EventCustomerUnblocked    = "customer.unblocked"
	EventCustomerDeleted      = "customer.deleted"
)

// KnownEvent reports whether name is one of the documented event names
// (the Event* constants; the list is event.WebhookActions(event.HelpCrunch),
// shared with the metric labels).
func KnownEvent(name string) bool { return event.KnownWebhookAction(event.HelpCrunch, name) }

// Sign returns the signature HelpCrunch sends for body: lowercase hex
// HMAC-SHA1 keyed with key. Tests and fakes use it to sign deliveries.
func Sign(body []byte, key string) string {
	m := hmac.New(sha1.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether signature (hex, any case, surrounding space
// ignored) is the HMAC-SHA1 of the raw body keyed with key. The comparison is
// constant time (hmac.Equal). An empty key or signature never verifies.
// Verify before decoding: the signature covers the exact bytes received.
func VerifySignature(body []byte, signature, key string) bool {
	if key == "" {
		return false
	}
	got, err := hex.DecodeString(strings.TrimSpace(signature))
	if err != nil || len(got) != sha1.Size {
		return false
	}
	m := hmac.New(sha1.New, []byte(key))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// ErrMalformedWebhook is wrapped by ParseWebhook for a body that is not a
// webhook envelope with an event name and an object eventData.
var ErrMalformedWebhook = errors.New("helpcrunch: malformed webhook")

// Webhook is the envelope every delivery shares:
//
//	{"event", "eventData", "attempts", "lastAttemptAt", "createdAt", "id"}
//
// Envelope times are unix seconds; the times inside eventData are strings of
// fractional seconds (see Timestamp).
type Webhook struct {
	// Event is the event name, e.g. "chat.assigned".
	Event string
	// EventData is the event-specific object, as received.
	EventData json.RawMessage
	// ID is the event id ("uuid-like"); the same delivery retried keeps it.
	// Empty when the delivery has none.
	ID string
	// Attempts counts earlier delivery attempts (0 on the first).
	Attempts int
	// CreatedAt and LastAttemptAt are unix seconds.
	CreatedAt, LastAttemptAt int64
	// Organization is the envelope's "organization" (or "domain") string, for
	// deliveries that carry one. The HelpCrunch docs show no such field, so it
	// is usually empty: one signing key means one HelpCrunch account.
	Organization string
}

// ParseWebhook decodes the envelope leniently: id may be a string or a
// number, the counters numbers or numeric strings. It fails with an error
// wrapping ErrMalformedWebhook when the body is not a JSON object, the event
// name is missing, or eventData is not an object.
func ParseWebhook(body []byte) (*Webhook, error) {
	var env struct {
		Event         json.RawMessage `json:"event"`
		EventData     json.RawMessage `json:"eventData"`
		ID            json.RawMessage `json:"id"`
		Attempts      json.RawMessage `json:"attempts"`
		CreatedAt     json.RawMessage `json:"createdAt"`
		LastAttemptAt json.RawMessage `json:"lastAttemptAt"`
		Organization  json.RawMessage `json:"organization"`
		Domain        json.RawMessage `json:"domain"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedWebhook, err)
	}
	w := &Webhook{}
	var err error
	if w.Event, err = jsonString(env.Event); err != nil || w.Event == "" {
		return nil, fmt.Errorf("%w: missing event name", ErrMalformedWebhook)
	}
	data := bytes.TrimSpace(env.EventData)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: eventData must be an object", ErrMalformedWebhook)
	}
	w.EventData = data
	w.ID, _ = stringOrNumber(env.ID)
	w.Attempts = int(lenientInt(env.Attempts))
	w.CreatedAt = lenientInt(env.CreatedAt)
	w.LastAttemptAt = lenientInt(env.LastAttemptAt)
	if w.Organization, _ = jsonString(env.Organization); w.Organization == "" {
		w.Organization, _ = jsonString(env.Domain)
	}
	return w, nil
}

// jsonString decodes a JSON string; absent or null is "".
func jsonString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return strings.TrimSpace(s), err
}

func lenientInt(raw json.RawMessage) int64 {
	s, err := stringOrNumber(raw)
	if err != nil || s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return int64(f)
}

// ChatID returns the id of the chat the event is about, or "" (customer
// events, or a chat event without an id). The docs do not show where chat
// events keep it, so it tries, in order:
//   - eventData.chat_id (message events, documented; some chat events),
//     also spelled chatId;
//   - eventData.chat.id, for payloads that nest the chat;
//   - eventData.id, for chat.* events only, whose eventData is the chat
//     itself (chat.new in public integrations). For message and customer
//     events eventData.id would be another entity, so it is not used.
//
// Numbers and strings are both accepted.
func (w *Webhook) ChatID() string {
	var d struct {
		ChatID  json.RawMessage `json:"chat_id"`
		ChatID2 json.RawMessage `json:"chatId"`
		Chat    json.RawMessage `json:"chat"`
		ID      json.RawMessage `json:"id"`
	}
	if json.Unmarshal(w.EventData, &d) != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{d.ChatID, d.ChatID2} {
		if id, err := stringOrNumber(raw); err == nil && id != "" {
			return id
		}
	}
	if c := bytes.TrimSpace(d.Chat); len(c) > 0 && c[0] == '{' {
		var nested struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(c, &nested) == nil {
			if id, err := stringOrNumber(nested.ID); err == nil && id != "" {
				return id
			}
		}
	}
	if strings.HasPrefix(w.Event, "chat.") {
		if id, err := stringOrNumber(d.ID); err == nil {
			return id
		}
	}
	return ""
}

// Normalize turns the delivery into the event chatwarden stores:
// Platform helpcrunch, Action the event name, ChatID as ChatID finds it,
// Tenant the Organization (usually empty), Payload eventData unchanged. The
// envelope's counters are dropped and no signature is kept.
//
// The id is derived from the event name and the HelpCrunch event id, so a
// retried delivery (attempts and lastAttemptAt change) keeps its id; without
// an event id it is derived from the event name and eventData.
func (w *Webhook) Normalize(receivedAt time.Time) *event.Event {
	id := event.ContentID([]byte(event.HelpCrunch), []byte(w.Event), []byte("id"), []byte(w.ID))
	if w.ID == "" {
		id = event.ContentID([]byte(event.HelpCrunch), []byte(w.Event), []byte("data"), w.EventData)
	}
	return &event.Event{
		ID:         id,
		Platform:   event.HelpCrunch,
		Action:     w.Event,
		Tenant:     w.Organization,
		ChatID:     w.ChatID(),
		Source:     event.SourceWebhook,
		ReceivedAt: receivedAt.UTC(),
		Payload:    w.EventData,
	}
}
