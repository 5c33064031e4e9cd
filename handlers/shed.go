package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"
)

// Reasons of shed webhooks: too many webhooks or bytes in flight, or the
// process over its memory budget (http.max_memory_bytes).
const (
	reasonOverloaded = "overloaded"
	reasonOverMemory = "over_memory"
)

// shedLoad bounds the webhooks (http.max_inflight) and webhook bytes
// (http.max_inflight_bytes) being received and stored at once. A request
// that does not fit is answered 503 with Retry-After before its body is read:
// under overload, senders retry later, memory stays bounded and accepted
// webhooks stay fast, instead of requests queueing until they time out.
// While d.Memory reports the process over its memory budget every webhook
// is shed the same way.
func shedLoad(d Deps) echo.MiddlewareFunc {
	sem := semaphore.NewWeighted(d.MaxInflightBytes)
	slots := make(chan struct{}, d.MaxInflight)
	log := d.Logger.Named("webhook")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if d.Memory != nil && d.Memory.Over() {
				return shed(c, d, log, reasonOverMemory)
			}
			n := c.Request().ContentLength
			if n <= 0 || n > d.MaxBodyBytes {
				n = d.MaxBodyBytes // unknown (chunked) or too large: the handler answers 413
			}
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				return shed(c, d, log, reasonOverloaded)
			}
			if !sem.TryAcquire(n) {
				return shed(c, d, log, reasonOverloaded)
			}
			defer sem.Release(n)
			return next(c)
		}
	}
}

// shed answers 503 with Retry-After and counts it under reason.
func shed(c echo.Context, d Deps, log *zap.Logger, reason string) error {
	platform := strings.TrimPrefix(c.Path(), "/webhooks/")
	d.Metrics.WebhooksRejected.WithLabelValues(platform, reason).Inc()
	if ce := log.Check(zap.DebugLevel, "webhook shed"); ce != nil {
		ce.Write(zap.String("platform", platform), zap.String("reason", reason))
	}
	c.Response().Header().Set("Retry-After", retryAfterSeconds)
	return c.JSONBlob(http.StatusServiceUnavailable, shedBody)
}

// shedBody is the answer to a shed webhook, encoded once: under overload
// most answers are this one.
var shedBody = []byte(`{"error":"overloaded; retry later"}` + "\n")
