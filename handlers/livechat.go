package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
)

// liveChatFields are the envelope's names of the event fields, for errors.
var liveChatFields = map[string]string{"tenant": "organization_id"}

// liveChatWebhook receives POST /webhooks/livechat.
//
// Order of checks: body size (413), JSON envelope (400), secret_key (401,
// constant time, any of livechat.webhook_secrets), required action and payload
// (400), then the bounds of action, organization_id (license_id in v3.2/v3.3
// envelopes, checked by livechat.ParseWebhook), webhook_id, chat_id and
// thread_id (400 naming the field and its limit; see event.CheckBounds). The
// stored event has no secret_key (see livechat.ParseWebhook).
func liveChatWebhook(d Deps) echo.HandlerFunc {
	r := newReceiver(event.LiveChat, d)
	secrets := newSecretSet(d.LiveChatSecrets)
	return func(c echo.Context) error {
		body, ok := r.readOrReject(c)
		if !ok {
			return nil
		}
		ev, secret, err := livechat.ParseWebhook(body, d.Now())
		if errors.Is(err, livechat.ErrWebhookJSON) {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, livechat.ErrWebhookJSON.Error(), zap.Error(err))
		}
		if !secrets.match(secret) {
			fields := []zap.Field{}
			if ev != nil {
				fields = append(fields, zap.String("action", clip(ev.Action)), zap.String("webhook_id", clip(ev.WebhookID)))
			}
			return r.reject(c, http.StatusUnauthorized, reasonUnauthorized, "secret_key does not match", fields...)
		}
		if err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, err.Error())
		}
		if err := ev.CheckBounds(liveChatFields); err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, err.Error())
		}
		return r.store(c, ev)
	}
}
