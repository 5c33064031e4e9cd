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

type attemptKey struct{}

// Attempt is the delivery number (1 for the first) of the event being
// handled, as the runner put it in ctx, plus the tries after waiting for an
// unavailable platform (which spend no attempt, but may repeat a call that
// reached it); 0 outside the runner. Above 1, the event may have been
// handled before.
func Attempt(ctx context.Context) uint64 {
	n, _ := ctx.Value(attemptKey{}).(uint64)
	return n
}

// WithAttempt returns ctx carrying the delivery number n.
func WithAttempt(ctx context.Context, n uint64) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
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
