package consumer

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/chatwarden/chatwarden/event"
)

// Recover turns a panic in the handler into a retryable error carrying the
// stack, so one bad event cannot take the worker down; it still ends in the
// dead-letter stream after workers.max_attempts.
func Recover() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, ev *event.Event) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic handling event %s: %v\n%s", ev.ID, r, debug.Stack())
				}
			}()
			return next.Handle(ctx, ev)
		})
	}
}
