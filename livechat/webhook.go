package livechat

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/view"
)

// Errors of ParseWebhook.
var (
	// ErrWebhookJSON: the body is not a JSON webhook envelope.
	ErrWebhookJSON = errors.New("body is not a JSON webhook envelope")
	// ErrWebhookFields: action or an object payload is missing.
	ErrWebhookFields = errors.New("action and an object payload are required")
)

// ParseWebhook normalizes a LiveChat webhook body into an event, without
// checking its secret: it returns the presented secret_key for the caller
// to check, and the event never contains it (only the payload and
// additional_data are kept). The event id is derived from the action,
// organization and payload, never from webhook_id, which names the
// registration: retries and duplicate registrations collapse.
//
// The envelope (https://platform.text.com/docs/management/webhooks) is
// {webhook_id, secret_key, action, organization_id, payload,
// additional_data}. The body is validated once and fields are read without
// decoding the (often large) payload; the payload is kept byte for byte.
//
// The tenant is organization_id. Webhooks of API v3.2/v3.3 have license_id
// (a number) instead: when organization_id is absent or empty, license_id
// (a non-negative integer or a string) is the tenant, as its decimal text.
//
// Errors: ErrWebhookJSON when the body is not a JSON object (secret is then
// unknown); ErrWebhookFields when action or an object payload is missing
// (secret is still returned, so callers can answer 401 before 400); an
// *event.BoundsError naming license_id when license_id, used as the tenant,
// breaks event.MaxTenantLen or has control characters (organization_id's
// bounds are the caller's to check, see event.Event.CheckBounds).
//
// The event refers to body (its Payload and strings are views of it, not
// copies): the caller must not modify body afterwards.
func ParseWebhook(body []byte, receivedAt time.Time) (ev *event.Event, secret string, err error) {
	var sc scan
	if !sc.run(body) {
		return nil, "", fmt.Errorf("%w: invalid JSON", ErrWebhookJSON)
	}
	if top := bytes.TrimLeft(body, " \t\r\n"); top[0] != '{' {
		return nil, "", fmt.Errorf("%w: want an object", ErrWebhookJSON)
	}
	// As with encoding/json, the last of duplicate keys wins (see scan).
	secret = str(sc.result(fSecret))
	action := str(sc.result(fAction))
	org := str(sc.result(fOrg))
	license := licenseID(sc.result(fLicense))
	payload := sc.raw(fPayload)
	if action == "" || len(payload) == 0 || payload[0] != '{' {
		return nil, secret, ErrWebhookFields
	}
	if org == "" && license != "" {
		if err := event.CheckField("license_id", license, event.MaxTenantLen); err != nil {
			return nil, secret, err
		}
		org = license
	}
	chatID, threadID := sc.ids(action)
	ev = &event.Event{
		ID:         event.ContentID([]byte(event.LiveChat), []byte(action), []byte(org), payload),
		Platform:   event.LiveChat,
		Action:     action,
		Tenant:     org,
		ChatID:     chatID,
		ThreadID:   threadID,
		Source:     event.SourceWebhook,
		ReceivedAt: receivedAt.UTC(),
		WebhookID:  str(sc.result(fWebhookID)),
		Payload:    payload,
	}
	// An object with at least one member (the scan validated it: it ends
	// with '}'); an empty one is left out.
	if ad := sc.raw(fAdditional); len(ad) > 0 && ad[0] == '{' && len(bytes.TrimSpace(ad[1:len(ad)-1])) > 0 {
		ev.AdditionalData = ad
	}
	return ev, secret, nil
}

// result is field f as gjson reads it (a view of the body); empty when
// absent.
func (s *scan) result(f int) gjson.Result {
	raw := s.raw(f)
	if raw == nil {
		return gjson.Result{}
	}
	return gjson.Parse(view.String(raw))
}

// ids are the chat and thread a payload is about. Where they sit depends on
// the action (reference §2): incoming_chat carries the whole chat,
// chat_access_updated names the chat `id`, customer session updates carry
// `active_chat`, and most others carry chat_id/thread_id.
func (s *scan) ids(action string) (chatID, threadID string) {
	switch action {
	case "incoming_chat":
		return str(s.result(fChatChatID)), str(s.result(fChatThreadID))
	case "chat_access_updated":
		return str(s.result(fID)), ""
	case "customer_session_fields_updated":
		return str(s.result(fActiveChatID)), str(s.result(fActiveThreadID))
	default:
		return str(s.result(fChatID)), str(s.result(fThreadID))
	}
}

// licenseID is license_id's text: the digits of a non-negative integer, or
// a string's value; other types (and fractions, exponents, signs) count as
// missing.
func licenseID(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return str(r)
	case gjson.Number:
		if r.Raw != "" && strings.Trim(r.Raw, "0123456789") == "" {
			return r.Raw
		}
	}
	return ""
}

// maxDepth is encoding/json's nesting limit; deeper documents are refused
// as it refuses them.
const maxDepth = 10000

// str is a string field's value; other types count as missing. As with
// encoding/json, each byte of invalid UTF-8 becomes U+FFFD.
func str(r gjson.Result) string {
	if r.Type != gjson.String {
		return ""
	}
	v := r.String()
	if utf8.ValidString(v) {
		return v
	}
	var b strings.Builder
	for _, c := range v { // invalid bytes come out as RuneError, one each
		b.WriteRune(c)
	}
	return b.String()
}

// WebhookActions are the webhook actions of Agent Chat API v3.6 (and a few
// of v3.5): event.WebhookActions(event.LiveChat), the list the metric
// labels share. Do not modify it.
var WebhookActions = event.WebhookActions(event.LiveChat)
