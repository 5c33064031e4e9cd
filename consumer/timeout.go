package consumer

import (
	"context"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// Timeout bounds the time one event may take. A handler that runs out of time
// returns context.DeadlineExceeded (retryable).
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, ev *event.Event) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next.Handle(ctx, ev)
		})
	}
}
