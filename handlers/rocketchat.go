package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/rocketchat"
)

// rocketChatFields are the payload's names of the event fields, for errors.
var rocketChatFields = map[string]string{"action": "type", "chat_id": "_id"}

// rocketChatWebhook receives POST /webhooks/rocketchat, the Omnichannel
// webhook (one URL per workspace).
//
// Order of checks: body size (413; session events carry the room's whole
// message history, so http.max_body_bytes must fit the longest
// conversations), X-RocketChat-Livechat-Token (401, constant time against
// rocketchat.webhook_token), then the payload (400: not JSON, no type, a room
// event without _id), then the bounds of type and _id (400 naming the field
// and its limit; see event.CheckBounds). The stored payload has no token at
// any depth (visitor.token, messages' tokens, ...; see
// rocketchat.IsTokenKey); the webhook token is never stored or logged.
//
// Rocket.Chat counts only an exact 200 as success and saves the response
// body on the room (crmData, sent back in later payloads), so success is 200
// with an empty body, answered by store after the broker acknowledged.
func rocketChatWebhook(d Deps) echo.HandlerFunc {
	r := newReceiver(event.RocketChat, d)
	tokens := newSecretSet([]string{d.RocketChatWebhookToken})
	return func(c echo.Context) error {
		body, ok := r.readOrReject(c)
		if !ok {
			return nil
		}
		tok := c.Request().Header.Get(rocketchat.TokenHeader)
		if !tokens.match(tok) {
			return r.reject(c, http.StatusUnauthorized, reasonUnauthorized, "X-RocketChat-Livechat-Token does not match",
				zap.Bool("token_present", tok != ""))
		}
		w, err := rocketchat.ParseWebhook(body)
		if err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, "body is not a Rocket.Chat webhook payload", zap.Error(err))
		}
		ev := w.Normalize(d.Now())
		if err := ev.CheckBounds(rocketChatFields); err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, err.Error())
		}
		return r.store(c, ev)
	}
}
