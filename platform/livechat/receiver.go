package livechat

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	lc "github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/platform"
)

// fields are the envelope's names of the event fields, for errors.
var fields = map[string]string{"tenant": "organization_id"}

// Receiver receives LiveChat webhooks (POST /webhooks/livechat).
//
// Order of checks, after the shared ones: JSON envelope (400), secret_key
// (401, constant time, any of livechat.webhook_secrets), required action
// and payload (400), then the bounds of action, organization_id (license_id
// in v3.2/v3.3 envelopes, checked by livechat.ParseWebhook), webhook_id,
// chat_id and thread_id (400 naming the field and its limit; see
// event.CheckBounds). The stored event has no secret_key (see
// livechat.ParseWebhook).
type Receiver struct{ secrets platform.Secrets }

// NewReceiver accepts the secret keys secrets (several, for rotation); with
// none, every webhook is refused with 401.
func NewReceiver(secrets ...string) *Receiver {
	return &Receiver{secrets: platform.NewSecrets(secrets...)}
}

func newReceiver(cfg *config.Config) (platform.Receiver, error) {
	return NewReceiver(cfg.LiveChat.WebhookSecrets...), nil
}

// Receive implements platform.Receiver.
func (r *Receiver) Receive(_ *http.Request, body []byte, now time.Time) (*event.Event, error) {
	ev, secret, err := lc.ParseWebhook(body, now)
	if errors.Is(err, lc.ErrWebhookJSON) {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, lc.ErrWebhookJSON.Error(), zap.Error(err))
	}
	if !r.secrets.Match(secret) {
		var logged []zap.Field
		if ev != nil {
			logged = append(logged, zap.String("action", platform.Clip(ev.Action)), zap.String("webhook_id", platform.Clip(ev.WebhookID)))
		}
		return nil, platform.Reject(http.StatusUnauthorized, platform.ReasonUnauthorized, "secret_key does not match", logged...)
	}
	if err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, err.Error())
	}
	if err := ev.CheckBounds(fields); err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, err.Error())
	}
	return ev, nil
}
