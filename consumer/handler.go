// Package consumer runs chatwarden's workers: it fetches events from the
// durable JetStream consumer, keeps events of one chat in order inside the
// process, and owns the ack policy (ack, nak with delay, dead letter and
// terminate). Rule and action code implements Handler and never touches a
// JetStream message.
package consumer

import (
	"context"

	"github.com/chatwarden/chatwarden/event"
)

// Handler applies policy to one event. It returns nil when the event is done
// with, an error built with Permanent when retrying cannot help, and any other
// error to have the event retried later (see Classify).
type Handler interface {
	Handle(ctx context.Context, ev *event.Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev *event.Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *event.Event) error { return f(ctx, ev) }

// Middleware wraps a Handler with a cross-cutting concern.
type Middleware func(Handler) Handler

// Chain applies middlewares so that the first one is the outermost:
// Chain(h, a, b) handles as a(b(h)).
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
