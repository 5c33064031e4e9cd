package handlers

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"
)

// contextWithTimeout derives the publish deadline from the request context.
// The request context ends when the sender hangs up; the event is then still
// published if the broker answers, and a later retry is a duplicate.
func contextWithTimeout(c echo.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request().Context()), d)
}
