package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
)

// liveChatEnvelope is the outer shape of every LiveChat webhook (v3.4+).
// See https://platform.text.com/docs/management/webhooks.
type liveChatEnvelope struct {
	WebhookID      string          `json:"webhook_id"`
	SecretKey      string          `json:"secret_key"`
	Action         string          `json:"action"`
	OrganizationID string          `json:"organization_id"`
	Payload        json.RawMessage `json:"payload"`
	AdditionalData json.RawMessage `json:"additional_data"`
}

// liveChatActions are the webhook actions of Agent Chat API v3.6 (and a few
// of v3.5). Others are stored too; they only share one metrics label.
var liveChatActions = map[string]bool{
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

// liveChatIDs finds the chat and thread a LiveChat payload is about. Where
// they sit depends on the action (reference §2): incoming_chat carries the
// whole chat, chat_access_updated names the chat `id`, customer session
// updates carry `active_chat`, and most others carry chat_id/thread_id.
func liveChatIDs(action string, payload json.RawMessage) (chatID, threadID string) {
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

// liveChatWebhook receives POST /webhooks/livechat.
//
// Order of checks: body size (413), JSON envelope (400), secret_key (401,
// constant time, any of livechat.webhook_secrets), required action and payload
// (400). The stored event has no secret_key: only the payload and
// additional_data are kept. Its id is derived from the action, organization
// and payload, never from webhook_id (which names the registration), so
// retries and duplicate registrations collapse.
func liveChatWebhook(d Deps) echo.HandlerFunc {
	r := newReceiver(event.LiveChat, d)
	secrets := newSecretSet(d.LiveChatSecrets)
	if len(secrets) == 0 {
		r.log.Warn("livechat.webhook_secrets is empty: every LiveChat webhook will be rejected with 401")
	}
	return func(c echo.Context) error {
		body, ok := r.readOrReject(c)
		if !ok {
			return nil
		}
		var env liveChatEnvelope
		if err := json.Unmarshal(body, &env); err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, "body is not a JSON webhook envelope", zap.Error(err))
		}
		if !secrets.match(env.SecretKey) {
			return r.reject(c, http.StatusUnauthorized, reasonUnauthorized, "secret_key does not match",
				zap.String("action", env.Action), zap.String("webhook_id", env.WebhookID))
		}
		payload := bytes.TrimSpace(env.Payload)
		if env.Action == "" || len(payload) == 0 || payload[0] != '{' {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, "action and an object payload are required",
				zap.String("action", env.Action))
		}
		chatID, threadID := liveChatIDs(env.Action, payload)
		ev := &event.Event{
			ID:         event.ContentID([]byte(event.LiveChat), []byte(env.Action), []byte(env.OrganizationID), payload),
			Platform:   event.LiveChat,
			Action:     env.Action,
			Tenant:     env.OrganizationID,
			ChatID:     chatID,
			ThreadID:   threadID,
			Source:     event.SourceWebhook,
			ReceivedAt: d.Now().UTC(),
			WebhookID:  env.WebhookID,
			Payload:    payload,
		}
		if ad := bytes.TrimSpace(env.AdditionalData); len(ad) > 0 && !bytes.Equal(ad, []byte("null")) && !bytes.Equal(ad, []byte("{}")) {
			ev.AdditionalData = ad
		}
		label := env.Action
		if !liveChatActions[label] {
			label = "other"
		}
		return r.store(c, ev, label)
	}
}
