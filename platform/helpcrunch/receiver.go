package helpcrunch

import (
	"cmp"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	hc "github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/platform"
)

// ReasonStale: a HelpCrunch delivery older than helpcrunch.max_age (a
// replay), dated in the future, or undated.
const ReasonStale = "stale"

// fields are the envelope's names of the event fields, for errors.
var fields = map[string]string{"action": "event", "tenant": "organization"}

// Receiver receives HelpCrunch webhooks (POST /webhooks/helpcrunch).
//
// Order of checks, after the shared ones: X-HelpCrunch-Signature over the
// raw bytes (401; hex HMAC-SHA1 keyed with helpcrunch.signing_key, compared
// with hmac.Equal), then the envelope (400: not JSON, no event name,
// eventData not an object), then freshness (401, reason "stale": the
// delivery's time, lastAttemptAt or else createdAt, more than MaxAge ago
// or more than helpcrunch.MaxClockSkew ahead, or missing; see
// helpcrunch.Webhook.CheckFresh), then the bounds of the event name, id,
// organization and chat id (400 naming the field and its limit; see
// event.CheckBounds). The signature is checked before decoding because it
// covers the exact bytes received; it is never stored or logged. The
// stored payload is eventData; the id derives from the event name and
// HelpCrunch's event id (see helpcrunch.Webhook.Normalize), so retried
// deliveries collapse.
type Receiver struct {
	// SigningKey verifies X-HelpCrunch-Signature. Empty: every webhook is
	// refused with 401.
	SigningKey string
	// MaxAge refuses deliveries sent longer ago than this, so a captured
	// delivery cannot be replayed later; 0 turns the check off (the
	// service passes helpcrunch.max_age, default 5m, never 0).
	MaxAge time.Duration
}

func newReceiver(cfg *config.Config) (platform.Receiver, error) {
	return Receiver{SigningKey: cfg.HelpCrunch.SigningKey,
		MaxAge: cmp.Or(cfg.HelpCrunch.MaxAge, config.DefaultHelpCrunchMaxAge)}, nil // never off
}

// Receive implements platform.Receiver.
func (r Receiver) Receive(req *http.Request, body []byte, now time.Time) (*event.Event, error) {
	sig := req.Header.Get(hc.SignatureHeader)
	if !hc.VerifySignature(body, sig, r.SigningKey) {
		return nil, platform.Reject(http.StatusUnauthorized, platform.ReasonUnauthorized, "X-HelpCrunch-Signature does not match",
			zap.Bool("signature_present", sig != ""))
	}
	w, err := hc.ParseWebhook(body)
	if err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, "body is not a HelpCrunch webhook envelope", zap.Error(err))
	}
	if r.MaxAge > 0 {
		if err := w.CheckFresh(now, r.MaxAge); err != nil {
			return nil, platform.Reject(http.StatusUnauthorized, ReasonStale, err.Error(),
				zap.String("event", platform.Clip(w.Event)), zap.String("event_id", platform.Clip(w.ID)), zap.Int("attempts", w.Attempts))
		}
	}
	if err := event.CheckField("id", w.ID, event.MaxIDLen); err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, err.Error())
	}
	ev := w.Normalize(now)
	if err := ev.CheckBounds(fields); err != nil {
		return nil, platform.Reject(http.StatusBadRequest, platform.ReasonMalformed, err.Error())
	}
	return ev, nil
}
