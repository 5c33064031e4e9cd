package acme

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
)

// TokenHeader carries the webhook token.
const TokenHeader = "X-Acme-Token"

// Webhook is what Acme posts.
type Webhook struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
}

// Receiver receives Acme's webhooks (POST /webhooks/acme): the token (401,
// constant time), then the body (400: not JSON, no id or type), then the
// bounds of the event's fields (400).
type Receiver struct{ tokens platform.Secrets }

// NewReceiver builds the receiver of platforms.acme.webhook_token
// (platform.Platform.NewReceiver).
func NewReceiver(cfg *config.Config) (platform.Receiver, error) {
	return &Receiver{tokens: platform.NewSecrets(configOf(cfg).WebhookToken)}, nil
}

// Receive implements platform.Receiver.
func (r *Receiver) Receive(req *http.Request, body []byte, now time.Time) (*event.Event, error) {
	if !r.tokens.Match(req.Header.Get(TokenHeader)) {
		return nil, platform.Reject(http.StatusUnauthorized, platform.ReasonUnauthorized, TokenHeader+" does not match")
	}
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil || w.ID == "" || w.Type == "" {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, "body is not an Acme webhook")
	}
	ev := &event.Event{ID: event.ContentID([]byte(Name), []byte(w.ID)), Platform: Name, Action: w.Type,
		ChatID: w.Conversation, Source: event.SourceWebhook, ReceivedAt: now, Payload: body}
	if err := ev.CheckBounds(nil); err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, err.Error())
	}
	return ev, nil
}
