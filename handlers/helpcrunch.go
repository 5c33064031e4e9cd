package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
)

// reasonStale: a HelpCrunch delivery older than helpcrunch.max_age (a
// replay), dated in the future, or undated.
const reasonStale = "stale"

// helpCrunchFields are the envelope's names of the event fields, for errors.
var helpCrunchFields = map[string]string{"action": "event", "tenant": "organization"}

// helpCrunchWebhook receives POST /webhooks/helpcrunch.
//
// Order of checks: body size (413), X-HelpCrunch-Signature over the raw
// bytes (401; hex HMAC-SHA1 keyed with helpcrunch.signing_key, compared with
// hmac.Equal), then the envelope (400: not JSON, no event name, eventData not
// an object), then freshness (401, reason "stale": the delivery's time,
// lastAttemptAt or else createdAt, more than Deps.HelpCrunchMaxAge ago or
// more than helpcrunch.MaxClockSkew ahead, or missing; see
// helpcrunch.Webhook.CheckFresh), then the bounds of the event name, id, organization and chat id
// (400 naming the field and its limit; see event.CheckBounds). The signature is checked before decoding because it covers the
// exact bytes received; it is never stored or logged. The stored payload is
// eventData; the id derives from the event name and HelpCrunch's event id
// (see helpcrunch.Webhook.Normalize), so retried deliveries collapse.
func helpCrunchWebhook(d Deps) echo.HandlerFunc {
	r := newReceiver(event.HelpCrunch, d)
	key := d.HelpCrunchSigningKey
	return func(c echo.Context) error {
		body, ok := r.readOrReject(c)
		if !ok {
			return nil
		}
		sig := c.Request().Header.Get(helpcrunch.SignatureHeader)
		if !helpcrunch.VerifySignature(body, sig, key) {
			return r.reject(c, http.StatusUnauthorized, reasonUnauthorized, "X-HelpCrunch-Signature does not match",
				zap.Bool("signature_present", sig != ""))
		}
		w, err := helpcrunch.ParseWebhook(body)
		if err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, "body is not a HelpCrunch webhook envelope", zap.Error(err))
		}
		if d.HelpCrunchMaxAge > 0 {
			if err := w.CheckFresh(d.Now(), d.HelpCrunchMaxAge); err != nil {
				return r.reject(c, http.StatusUnauthorized, reasonStale, err.Error(),
					zap.String("event", clip(w.Event)), zap.String("event_id", clip(w.ID)), zap.Int("attempts", w.Attempts))
			}
		}
		if err := event.CheckField("id", w.ID, event.MaxIDLen); err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, err.Error())
		}
		ev := w.Normalize(d.Now())
		if err := ev.CheckBounds(helpCrunchFields); err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, err.Error())
		}
		return r.store(c, ev)
	}
}
