package rocketchat

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	rc "github.com/chatwarden/chatwarden/rocketchat"
)

// fields are the payload's names of the event fields, for errors.
var fields = map[string]string{"action": "type", "chat_id": "_id"}

// Receiver receives the Rocket.Chat Omnichannel webhook (POST
// /webhooks/rocketchat, one URL per workspace).
//
// Order of checks, after the shared ones (session events carry the room's
// whole message history, so http.max_body_bytes must fit the longest
// conversations): X-RocketChat-Livechat-Token (401, constant time against
// rocketchat.webhook_token), then the payload (400: not JSON, no type, a
// room event without _id), then the bounds of type and _id (400 naming the
// field and its limit; see event.CheckBounds). The stored payload has no
// token at any depth (visitor.token, messages' tokens, ...; see
// rocketchat.IsTokenKey); the webhook token is never stored or logged.
//
// Rocket.Chat counts only an exact 200 as success and saves the response
// body on the room (crmData, sent back in later payloads): the service
// answers success with 200 and an empty body, after the broker acknowledged.
type Receiver struct{ tokens platform.Secrets }

// NewReceiver accepts the webhook token token; empty: every webhook is
// refused with 401.
func NewReceiver(token string) *Receiver { return &Receiver{tokens: platform.NewSecrets(token)} }

func newReceiver(cfg *config.Config) (platform.Receiver, error) {
	return NewReceiver(cfg.RocketChat.WebhookToken), nil
}

// Receive implements platform.Receiver.
func (r *Receiver) Receive(req *http.Request, body []byte, now time.Time) (*event.Event, error) {
	tok := req.Header.Get(rc.TokenHeader)
	if !r.tokens.Match(tok) {
		return nil, platform.Reject(http.StatusUnauthorized, platform.ReasonUnauthorized, "X-RocketChat-Livechat-Token does not match",
			zap.Bool("token_present", tok != ""))
	}
	w, err := rc.ParseWebhook(body)
	if err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, "body is not a Rocket.Chat webhook payload", zap.Error(err))
	}
	ev := w.Normalize(now)
	if err := ev.CheckBounds(fields); err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, err.Error())
	}
	return ev, nil
}
