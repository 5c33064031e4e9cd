package livechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// Errors of ParseWebhook.
var (
	// ErrWebhookJSON: the body is not a JSON webhook envelope.
	ErrWebhookJSON = errors.New("body is not a JSON webhook envelope")
	// ErrWebhookFields: action or an object payload is missing.
	ErrWebhookFields = errors.New("action and an object payload are required")
)

// webhookEnvelope is the outer shape of every LiveChat webhook (v3.4+).
// See https://platform.text.com/docs/management/webhooks.
type webhookEnvelope struct {
	WebhookID      string          `json:"webhook_id"`
	SecretKey      string          `json:"secret_key"`
	Action         string          `json:"action"`
	OrganizationID string          `json:"organization_id"`
	Payload        json.RawMessage `json:"payload"`
	AdditionalData json.RawMessage `json:"additional_data"`
}

// ParseWebhook normalizes a LiveChat webhook body into an event, without
// checking its secret: it returns the presented secret_key for the caller
// to check, and the event never contains it (only the payload and
// additional_data are kept). The event id is derived from the action,
// organization and payload, never from webhook_id, which names the
// registration: retries and duplicate registrations collapse.
//
// Errors: ErrWebhookJSON when the body is not a JSON object (secret is then
// unknown); ErrWebhookFields when action or an object payload is missing
// (secret is still returned, so callers can answer 401 before 400).
func ParseWebhook(body []byte, receivedAt time.Time) (ev *event.Event, secret string, err error) {
	var env webhookEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrWebhookJSON, err)
	}
	payload := bytes.TrimSpace(env.Payload)
	if env.Action == "" || len(payload) == 0 || payload[0] != '{' {
		return nil, env.SecretKey, ErrWebhookFields
	}
	chatID, threadID := webhookIDs(env.Action, payload)
	ev = &event.Event{
		ID:         event.ContentID([]byte(event.LiveChat), []byte(env.Action), []byte(env.OrganizationID), payload),
		Platform:   event.LiveChat,
		Action:     env.Action,
		Tenant:     env.OrganizationID,
		ChatID:     chatID,
		ThreadID:   threadID,
		Source:     event.SourceWebhook,
		ReceivedAt: receivedAt.UTC(),
		WebhookID:  env.WebhookID,
		Payload:    payload,
	}
	if ad := bytes.TrimSpace(env.AdditionalData); len(ad) > 0 && !bytes.Equal(ad, []byte("null")) && !bytes.Equal(ad, []byte("{}")) {
		ev.AdditionalData = ad
	}
	return ev, env.SecretKey, nil
}

// WebhookActions are the webhook actions of Agent Chat API v3.6 (and a few
// of v3.5).
var WebhookActions = map[string]bool{
	"incoming_chat": true, "chat_deactivated": true, "chat_access_updated": true,
	"chat_transferred": true, "user_added_to_chat": true, "user_removed_from_chat": true,
	"incoming_event": true, "event_updated": true, "event_deleted": true,
	"incoming_rich_message_postback": true, "chat_properties_updated": true,
	"chat_properties_deleted": true, "thread_properties_updated": true,
	"thread_properties_deleted": true, "event_properties_updated": true,
	"event_properties_deleted": true, "thread_tagged": true, "thread_untagged": true,
	"routing_status_set": true, "customer_session_fields_updated": true,
	"incoming_customer": true, "thread_summary_set": true, "agent_created": true,
	"agent_approved": true, "agent_updated": true, "agent_suspended": true,
	"agent_unsuspended": true, "agent_deleted": true, "auto_accesses_updated": true,
	"bot_created": true, "bot_updated": true, "bot_deleted": true, "group_created": true,
	"group_updated": true, "group_deleted": true, "tag_created": true, "tag_deleted": true,
	"tag_updated": true, "agent_status_changed": true,
}

// webhookIDs finds the chat and thread a payload is about. Where they sit
// depends on the action (reference §2): incoming_chat carries the whole
// chat, chat_access_updated names the chat `id`, customer session updates
// carry `active_chat`, and most others carry chat_id/thread_id.
func webhookIDs(action string, payload json.RawMessage) (chatID, threadID string) {
	var p struct {
		ChatID   string `json:"chat_id"`
		ThreadID string `json:"thread_id"`
		ID       string `json:"id"`
		Chat     *struct {
			ID     string `json:"id"`
			Thread *struct {
				ID string `json:"id"`
			} `json:"thread"`
		} `json:"chat"`
		ActiveChat *struct {
			ChatID   string `json:"chat_id"`
			ThreadID string `json:"thread_id"`
		} `json:"active_chat"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return "", ""
	}
	switch action {
	case "incoming_chat":
		if p.Chat != nil {
			chatID = p.Chat.ID
			if p.Chat.Thread != nil {
				threadID = p.Chat.Thread.ID
			}
		}
	case "chat_access_updated":
		chatID = p.ID
	case "customer_session_fields_updated":
		if p.ActiveChat != nil {
			chatID, threadID = p.ActiveChat.ChatID, p.ActiveChat.ThreadID
		}
	default:
		chatID, threadID = p.ChatID, p.ThreadID
	}
	return chatID, threadID
}
