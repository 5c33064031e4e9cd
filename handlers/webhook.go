package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/tracing"
)

// Reasons a webhook is rejected (label "reason" of
// chatwarden_webhooks_rejected_total).
const (
	reasonUnauthorized = "unauthorized"
	reasonMalformed    = "malformed"
	reasonTooLarge     = "too_large"
	reasonUnavailable  = "unavailable"
)

// retryAfterSeconds is sent with 503 answers.
const retryAfterSeconds = "5"

// readBody reads at most limit bytes of the request body. It reports tooLarge
// without reading further when the body (or its declared length) is bigger.
// A body of declared length is read into one buffer of that size.
func readBody(r *http.Request, limit int64) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > limit {
		return nil, true, nil
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, false, err
		}
		return body, false, nil
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	return body, false, nil
}

// secretSet compares a presented secret against several accepted ones in
// constant time. Secrets are hashed first so the comparison does not leak
// their lengths either.
type secretSet [][sha256.Size]byte

func newSecretSet(secrets []string) secretSet {
	var s secretSet
	for _, v := range secrets {
		if v != "" {
			s = append(s, sha256.Sum256([]byte(v)))
		}
	}
	return s
}

func (s secretSet) match(presented string) bool {
	if len(s) == 0 || presented == "" {
		return false
	}
	h := sha256.Sum256([]byte(presented))
	ok := 0
	for i := range s {
		ok |= subtle.ConstantTimeCompare(h[:], s[i][:])
	}
	return ok == 1
}

// receiver holds what every platform's webhook handler shares: rejecting with
// metrics and logs, and publishing with a deadline.
type receiver struct {
	platform string
	d        Deps
	log      *zap.Logger
}

func newReceiver(platform string, d Deps) *receiver {
	return &receiver{platform: platform, d: d, log: d.Logger.Named("webhook").With(zap.String("platform", platform))}
}

// reject answers status with no details beyond a short message and counts it.
func (r *receiver) reject(c echo.Context, status int, reason, msg string, fields ...zap.Field) error {
	r.d.Metrics.WebhooksRejected.WithLabelValues(r.platform, reason).Inc()
	r.log.Info("webhook rejected", append(fields, zap.Int("status", status), zap.String("reason", reason),
		zap.String("detail", msg), zap.String("remote", c.RealIP()))...)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	return c.JSON(status, map[string]string{"error": msg})
}

// store publishes ev and answers: an exact 200 with an empty body once the
// broker acknowledged it (or recognised a duplicate), 503 with Retry-After
// when it could not be stored in time.
func (r *receiver) store(c echo.Context, ev *event.Event, actionLabel string) error {
	ctx, cancel := contextWithTimeout(c, r.d.PublishTimeout)
	defer cancel()
	ctx, span := tracing.Tracer().Start(ctx, "webhook "+r.platform+"."+ev.Action, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("chatwarden.event_id", ev.ID), attribute.String("chatwarden.chat_id", ev.ChatID),
			attribute.String("chatwarden.platform", r.platform), attribute.String("chatwarden.action", ev.Action)))
	defer span.End()
	start := time.Now()
	dup, err := r.d.Publisher.Publish(ctx, ev)
	if err != nil {
		span.SetStatus(codes.Error, "not stored")
	}
	span.SetAttributes(attribute.Bool("chatwarden.duplicate", dup))
	r.d.Metrics.PublishLatency.WithLabelValues(r.platform).Observe(time.Since(start).Seconds())
	if err != nil {
		return r.reject(c, http.StatusServiceUnavailable, reasonUnavailable,
			"cannot store the event right now; retry later",
			zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID), zap.String("event_id", ev.ID), zap.Error(err))
	}
	r.d.Metrics.WebhooksReceived.WithLabelValues(r.platform, actionLabel).Inc()
	if dup {
		r.d.Metrics.Duplicates.WithLabelValues(r.platform).Inc()
	}
	if ce := r.log.Check(zap.DebugLevel, "webhook stored"); ce != nil {
		ce.Write(zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID),
			zap.String("event_id", ev.ID), zap.Bool("duplicate", dup))
	}
	return c.NoContent(http.StatusOK)
}

// readOrReject reads the capped body; on failure it has already answered.
func (r *receiver) readOrReject(c echo.Context) ([]byte, bool) {
	body, tooLarge, err := readBody(c.Request(), r.d.MaxBodyBytes)
	switch {
	case tooLarge:
		_ = r.reject(c, http.StatusRequestEntityTooLarge, reasonTooLarge, "body exceeds http.max_body_bytes")
		return nil, false
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			_ = r.reject(c, http.StatusRequestEntityTooLarge, reasonTooLarge, "body exceeds the server limit")
			return nil, false
		}
		_ = r.reject(c, http.StatusBadRequest, reasonMalformed, "cannot read body", zap.Error(err))
		return nil, false
	}
	return body, true
}

// clip shortens s to event.MaxFieldLen bytes for logging values that have not
// been bounds-checked yet (say, of a webhook refused for its secret).
func clip(s string) string {
	if len(s) <= event.MaxFieldLen {
		return s
	}
	return s[:event.MaxFieldLen] + "…"
}
