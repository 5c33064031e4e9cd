package rocketchat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// TokenHeader carries the Omnichannel webhook's secret token, as configured
// (Administration → Omnichannel → Webhooks, "Secret Token"). It is sent as
// is, with no signature; compare it in constant time. Rocket.Chat leaves it
// out when no token is configured.
// https://docs.rocket.chat/docs/webhooks
const TokenHeader = "X-RocketChat-Livechat-Token"

// Webhook event types (the payload's "type"). Sources: Rocket.Chat
// apps/meteor/app/livechat/server/hooks/sendToCRM.ts and offlineMessage.ts.
const (
	EventSessionStart     = "LivechatSessionStart"
	EventSessionQueued    = "LivechatSessionQueued"
	EventSessionTaken     = "LivechatSessionTaken"
	EventSessionForwarded = "LivechatSessionForwarded"
	// EventSession is sent when a room closes.
	EventSession = "LivechatSession"
	// EventMessage carries only the new message.
	EventMessage = "Message"
	// EventOfflineMessage has another shape: {type, sentAt, visitor:{name,
	// email}, message} and no room.
	EventOfflineMessage = "LivechatOfflineMessage"
	// EventEdit is sent when the info of a closed room is saved.
	EventEdit = "LivechatEdit"
	// EventLeadCapture is sent when a visitor message matched the lead
	// capture patterns; it carries no messages.
	EventLeadCapture = "LeadCapture"
)

// roomEvents carry a room payload and must name the room.
var roomEvents = map[string]bool{
	EventSessionStart: true, EventSessionQueued: true, EventSessionTaken: true,
	EventSessionForwarded: true, EventSession: true, EventMessage: true,
	EventEdit: true, EventLeadCapture: true,
}

// KnownEvent reports whether typ is one of the Event* types (the list is
// event.WebhookActions(event.RocketChat), shared with the metric labels).
func KnownEvent(typ string) bool { return event.KnownWebhookAction(event.RocketChat, typ) }

// ErrMalformedWebhook is wrapped by ParseWebhook for a body that is not an
// Omnichannel webhook payload.
var ErrMalformedWebhook = errors.New("rocketchat: malformed webhook")

// Webhook is a decoded Omnichannel webhook delivery.
type Webhook struct {
	// Type is the event type, one of the Event* constants (others are
	// accepted too).
	Type string
	// RoomID is the room's id (the payload's "_id"); "" for
	// LivechatOfflineMessage.
	RoomID string
	// Payload is the delivery without tokens (see IsTokenKey: visitor.token,
	// which lets anyone act as the visitor, and any other token at any
	// depth), compacted with its keys sorted. This is what may be stored.
	Payload json.RawMessage
}

// ParseWebhook decodes a delivery. It fails with an error wrapping
// ErrMalformedWebhook when the body is not a JSON object, "type" is missing,
// or a room event (sessions, Message, LivechatEdit, LeadCapture) has no
// "_id". Unknown types without "_id" are accepted. Every token (see
// IsTokenKey) is removed from the payload, at any depth.
//
// The payload is re-encoded canonically (keys sorted, no insignificant
// whitespace, numbers as written, no HTML escaping), so two encodings of
// the same content give the same Payload and the same event id. Session
// events carry every visible message of the room, so payloads can be large.
func ParseWebhook(body []byte) (*Webhook, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedWebhook, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformedWebhook)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformedWebhook)
	}
	w := &Webhook{}
	var err error
	if w.Type, err = stringField(top, "type"); err != nil || w.Type == "" {
		return nil, fmt.Errorf("%w: missing type", ErrMalformedWebhook)
	}
	if w.RoomID, err = stringField(top, "_id"); err != nil {
		return nil, fmt.Errorf("%w: _id must be a string", ErrMalformedWebhook)
	}
	if w.RoomID == "" && roomEvents[w.Type] {
		return nil, fmt.Errorf("%w: %s without a room _id", ErrMalformedWebhook, w.Type)
	}
	scrubTokens(top)
	if w.Payload, err = encodeCompact(top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedWebhook, err)
	}
	return w, nil
}

// tokenKeys are the key names, besides "token", that IsTokenKey takes for
// tokens: those of credentials Rocket.Chat (or an integration writing custom
// fields) may carry, normalized as IsTokenKey normalizes.
var tokenKeys = map[string]bool{
	"token": true, "authtoken": true, "xauthtoken": true, "visitortoken": true,
	"accesstoken": true, "refreshtoken": true,
}

// IsTokenKey reports whether a payload key names a token that must not be
// stored: "token" in any case (Rocket.Chat's visitor token is visitor.token;
// the issue asks for every key named token), and, compared in lowercase with
// '-' and '_' removed, authToken, X-Auth-Token, visitorToken, accessToken and
// refreshToken. Other keys that merely contain "token" (tokenCount,
// pushTokens) are kept: removing them would lose data rules may need, and
// none of them is a Rocket.Chat credential.
func IsTokenKey(k string) bool {
	if len(k) > 16 || len(k) < len("token") {
		return false
	}
	var b [16]byte
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-' || c == '_':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[n] = c
		n++
	}
	return tokenKeys[string(b[:n])]
}

// scrubTokens removes every key IsTokenKey names from v and from every
// object nested in it, inside arrays too.
func scrubTokens(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if IsTokenKey(k) {
				delete(v, k)
				continue
			}
			scrubTokens(x)
		}
	case []any:
		for _, x := range v {
			scrubTokens(x)
		}
	}
}

// stringField returns m[k] as a string; absent or null is "".
func stringField(m map[string]any, k string) (string, error) {
	switch v := m[k].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", fmt.Errorf("%s is a %T, not a string", k, v)
	}
}

// encodeCompact writes v as compact JSON with sorted keys and without HTML
// escaping (so message text keeps its '<', '>' and '&').
func encodeCompact(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Normalize turns the delivery into the event chatwarden stores: Platform
// rocketchat, Action the type, ChatID the room id, Payload the stripped
// payload.
//
// Rocket.Chat sends no event id, and retries re-send the same payload, so the
// id is derived from the type, the room and the stripped payload (whose keys
// are sorted and whitespace removed, so formatting cannot split one delivery
// into two ids). Two deliveries differ in content (messages, _updatedAt,
// servedBy.ts, closedAt, ...) whenever they describe different changes.
func (w *Webhook) Normalize(receivedAt time.Time) *event.Event {
	return &event.Event{
		ID:         event.ContentID([]byte(event.RocketChat), []byte(w.Type), []byte(w.RoomID), w.Payload),
		Platform:   event.RocketChat,
		Action:     w.Type,
		ChatID:     w.RoomID,
		Source:     event.SourceWebhook,
		ReceivedAt: receivedAt.UTC(),
		Payload:    w.Payload,
	}
}
