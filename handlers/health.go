package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Liveness reports whether the process can still do its job by itself. An
// error means it cannot recover without a restart (its broker connection is
// closed for good): /healthz then answers 503 so that the Docker health
// check or an orchestrator restarts it. Temporary trouble (broker down,
// reconnecting) is for Readiness, not Liveness.
type Liveness interface {
	Alive(ctx context.Context) error
}

// healthz answers 200 while l reports the process alive (always, with l
// nil), else 503 with the cause.
func healthz(l Liveness) echo.HandlerFunc {
	return func(c echo.Context) error {
		if l != nil {
			ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
			defer cancel()
			if err := l.Alive(ctx); err != nil {
				return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "dead: restart the process", "error": err.Error()})
			}
		}
		return c.String(http.StatusOK, "ok\n")
	}
}

// readyz answers 200 while r is ready, else 503 with Retry-After, the cause
// and, when it is one of them, the reason ("storage_full",
// "broker_unavailable") the webhooks are refused with meanwhile.
func readyz(r Readiness) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			c.Response().Header().Set("Retry-After", "5")
			body := map[string]string{"status": "not ready", "error": err.Error()}
			if reason, _ := unstoredReason(err); reason != reasonUnavailable {
				body["reason"] = reason
			}
			return c.JSON(http.StatusServiceUnavailable, body)
		}
		return c.String(http.StatusOK, "ready\n")
	}
}
