package consumer

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

// admit is the middleware that decides, before the first attempt, whether
// an event runs at all: an undecodable one and one delivered more than
// workers.max_attempts times (earlier attempts crashed or timed out) are
// given up (dead-lettered without running the handler); one whose chat's
// earlier event was handed back while waiting for its platform (stopping) is
// handed back too, behind it.
func (r *Runner) admit(next step) step {
	return func(ctx context.Context, h *handling) error {
		if h.j.err != nil {
			return &giveUp{reason: ReasonUndecodable, attempts: h.md.NumDelivered, err: h.j.err}
		}
		if r.waits.behind(h.ev.Key()) {
			return errHandBack
		}
		if h.md.NumDelivered > r.maxAttempts {
			return &giveUp{reason: ReasonExhausted, attempts: h.md.NumDelivered, err: fmt.Errorf(
				"delivered %d times, more than workers.max_attempts=%d (an earlier attempt crashed or timed out)",
				h.md.NumDelivered, r.maxAttempts)}
		}
		return next(ctx, h)
	}
}

// retrier is the in-place retry middleware (in the shape of watermill's
// Retry): it runs the steps inside again after a retryable failure, after
// the backoff (honouring the platform's hint), while the chat's later events
// wait; it gives the event up (*giveUp) on a permanent failure or once
// maxAttempts deliveries and retries are spent. When the platform is
// unavailable (a Waiter) it waits for it without spending an attempt. Before
// each retry and after each outage wait it checks that this replica may
// still act on the event (handling.lost); if not, it stops (*lostError).
// When stopping, it hands the event back (errHandBack).
type retrier struct {
	maxAttempts uint64
	backoff     Backoff
	metrics     *metrics.Metrics
	// stopping ends when the runner stops: no further retry starts.
	stopping context.Context
	// waitOutage waits for ready; false when the runner stops first.
	waitOutage func(ready <-chan struct{}) bool
	// handBack records that chat's event waiting for its platform was
	// handed back (see outageWaits).
	handBack func(chat string)
}

func (rt *retrier) middleware(next step) step {
	return func(ctx context.Context, h *handling) error {
		ev := h.ev
		span := trace.SpanFromContext(ctx)
		// waits counts the tries after a wait for an unavailable platform,
		// which spend no attempt but may repeat a call that reached it: the
		// handler sees attempt+waits, so that a non-idempotent action checks
		// whether it already took effect.
		var waits uint64
		for attempt := h.md.NumDelivered; ; attempt++ {
			h.attempt = attempt + waits
			err := next(ctx, h)
			if err != nil && context.Cause(ctx) == errOwnershipLost {
				return &lostError{why: cmp.Or(h.lost(), errOwnershipLost.Error())}
			}
			if err != nil {
				span.AddEvent("attempt failed", trace.WithAttributes(attribute.Int64("attempt", int64(attempt)), attribute.String("error", err.Error())))
			}
			if w, ok := waiter(err); ok {
				// The platform is unavailable: wait for it without spending
				// an attempt (the same attempt runs again).
				h.log(zapcore.DebugLevel, "platform unavailable; the event waits, its attempts not spent", zap.Error(err))
				rt.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeWait).Inc()
				if !rt.waitOutage(w.Ready()) {
					rt.handBack(ev.Key())
					return errHandBack
				}
				if why := h.lost(); why != "" {
					return &lostError{why: why}
				}
				attempt--
				waits++
				continue
			}
			permanent, hint := Classify(err)
			switch {
			case err == nil:
				return nil
			case permanent:
				h.log(zapcore.WarnLevel, "permanent failure; dead-lettering the event", zap.Error(err))
				return &giveUp{reason: ReasonPermanent, attempts: attempt, err: err}
			case attempt >= rt.maxAttempts:
				h.log(zapcore.WarnLevel, "attempts exhausted; dead-lettering the event", zap.Error(err))
				return &giveUp{reason: ReasonExhausted, attempts: attempt, err: err}
			case rt.stopping.Err() != nil:
				// Shutting down: leave it for redelivery without counting a failure.
				return errHandBack
			}
			delay := rt.backoff.Delay(attempt, hint)
			h.log(zapcore.InfoLevel, "retryable failure; retrying in place, later events of this chat wait",
				zap.Duration("delay", delay), zap.Uint64("attempt", attempt), zap.Error(err))
			rt.metrics.Retries.WithLabelValues(event.PlatformLabel(ev.Platform)).Inc()
			rt.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeRetry).Inc()
			select {
			case <-time.After(delay):
			case <-rt.stopping.Done():
				return errHandBack
			}
			if why := h.lost(); why != "" {
				return &lostError{why: why}
			}
		}
	}
}
