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
	if !gjson.ValidBytes(body) || tooDeep(body) {
		return nil, "", fmt.Errorf("%w: invalid JSON", ErrWebhookJSON)
	}
	root := gjson.Parse(view.String(body))
	if !root.IsObject() {
		return nil, "", fmt.Errorf("%w: want an object", ErrWebhookJSON)
	}
	// One pass over the top-level members; as with encoding/json, the last
	// of duplicate keys wins.
	var action, org, license, webhookID string
	var payload, additional gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "secret_key":
			secret = str(v)
		case "action":
			action = str(v)
		case "organization_id":
			org = str(v)
		case "license_id":
			license = licenseID(v)
		case "webhook_id":
			webhookID = str(v)
		case "payload":
			payload = v
		case "additional_data":
			additional = v
		}
		return true
	})
	if action == "" || !payload.IsObject() {
		return nil, secret, ErrWebhookFields
	}
	if org == "" && license != "" {
		if err := event.CheckField("license_id", license, event.MaxTenantLen); err != nil {
			return nil, secret, err
		}
		org = license
	}
	raw := rawBytes(body, payload)
	chatID, threadID := webhookIDs(action, raw)
	ev = &event.Event{
		ID:         event.ContentID([]byte(event.LiveChat), []byte(action), []byte(org), raw),
		Platform:   event.LiveChat,
		Action:     action,
		Tenant:     org,
		ChatID:     chatID,
		ThreadID:   threadID,
		Source:     event.SourceWebhook,
		ReceivedAt: receivedAt.UTC(),
		WebhookID:  webhookID,
		Payload:    raw,
	}
	if additional.IsObject() {
		if ad := rawBytes(body, additional); !bytes.Equal(ad, []byte("{}")) && len(bytes.TrimSpace(ad[1:len(ad)-1])) > 0 {
			ev.AdditionalData = ad
		}
	}
	return ev, secret, nil
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

// tooDeep reports whether valid JSON nests deeper than maxDepth. Documents
// with fewer opening brackets than that cannot, and are not scanned.
func tooDeep(b []byte) bool {
	if bytes.Count(b, []byte("{"))+bytes.Count(b, []byte("[")) <= maxDepth {
		return false
	}
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > maxDepth {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

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

// rawBytes is r's raw JSON as a slice of body when gjson found it there
// (no copy), else a copy.
func rawBytes(body []byte, r gjson.Result) []byte {
	if r.Index > 0 && r.Index+len(r.Raw) <= len(body) {
		return body[r.Index : r.Index+len(r.Raw) : r.Index+len(r.Raw)]
	}
	return []byte(r.Raw)
}

// WebhookActions are the webhook actions of Agent Chat API v3.6 (and a few
// of v3.5): event.WebhookActions(event.LiveChat), the list the metric
// labels share. Do not modify it.
var WebhookActions = event.WebhookActions(event.LiveChat)

// webhookIDs finds the chat and thread a payload is about. Where they sit
// depends on the action (reference §2): incoming_chat carries the whole
// chat, chat_access_updated names the chat `id`, customer session updates
// carry `active_chat`, and most others carry chat_id/thread_id.
func webhookIDs(action string, payload []byte) (chatID, threadID string) {
	var paths [2]string
	switch action {
	case "incoming_chat":
		paths = [2]string{"chat.id", "chat.thread.id"}
	case "chat_access_updated":
		paths = [2]string{"id", ""}
	case "customer_session_fields_updated":
		paths = [2]string{"active_chat.chat_id", "active_chat.thread_id"}
	default:
		paths = [2]string{"chat_id", "thread_id"}
	}
	p := gjson.Parse(view.String(payload))
	chat, thread := lastGet2(p, paths[0], paths[1])
	return str(chat), str(thread)
}

// lastGet2 follows two dotted paths through objects, taking the last of
// duplicate keys at each level (encoding/json's rule). While the paths
// share a prefix they are followed together, so an object on the common
// prefix is scanned once. An empty path yields an empty result.
func lastGet2(r gjson.Result, path1, path2 string) (gjson.Result, gjson.Result) {
	switch {
	case path1 == "" && path2 == "":
		return gjson.Result{}, gjson.Result{}
	case path1 == "":
		return gjson.Result{}, lastGet(r, path2)
	case path2 == "":
		return lastGet(r, path1), gjson.Result{}
	}
	k1, rest1, _ := strings.Cut(path1, ".")
	k2, rest2, _ := strings.Cut(path2, ".")
	if !r.IsObject() {
		return gjson.Result{}, gjson.Result{}
	}
	var f1, f2 gjson.Result
	r.ForEach(func(k, v gjson.Result) bool {
		if k.Str == k1 {
			f1 = v
		}
		if k.Str == k2 {
			f2 = v
		}
		return true
	})
	if k1 == k2 && rest1 != "" && rest2 != "" {
		return lastGet2(f1, rest1, rest2)
	}
	return lastGet(f1, rest1), lastGet(f2, rest2)
}

// lastGet follows a dotted path (lastGet2's rule); an empty path is r.
func lastGet(r gjson.Result, path string) gjson.Result {
	if path == "" {
		return r
	}
	for key := range strings.SplitSeq(path, ".") {
		if !r.IsObject() {
			return gjson.Result{}
		}
		var found gjson.Result
		r.ForEach(func(k, v gjson.Result) bool {
			if k.Str == key {
				found = v
			}
			return true
		})
		r = found
	}
	return r
}
