package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/tracing"
)

// handling is one delivered event as the runner's steps see it.
type handling struct {
	j  *job
	md *jetstream.MsgMetadata
	ev *event.Event // nil when undecodable
	// attempt is the try number the handler sees (see Attempt).
	attempt uint64
	// log writes a line about the event; its fields are only built when
	// the line is (most events log nothing).
	log func(level zapcore.Level, msg string, fields ...zap.Field)
	// lost says why this replica may no longer act on the event ("" when
	// it may; see Runner.lost).
	lost func() string
}

// step handles a delivered event. Its error tells process what to do: nil
// acknowledge; *termination terminate; *lostError leave it unacknowledged
// (this replica may have lost it); errHandBack or any other error hand it
// back for redelivery.
type step func(ctx context.Context, h *handling) error

// errHandBack hands an event back to the broker for redelivery (stopping,
// or behind an event of its chat handed back).
var errHandBack = errors.New("handed back for redelivery")

// lostError leaves an event unacknowledged: this replica may have lost it to
// another replica, for the reason why.
type lostError struct{ why string }

func (e *lostError) Error() string { return "ownership lost: " + e.why }

// steps is the runner's handling of an event, outermost first:
//
//	poison  dead-letters what the steps inside give up on, then terminates it (poison.go)
//	admit   gives up undecodable and over-delivered events before any attempt (retry.go)
//	traced  the event's span, and its cancellation when ownership is lost
//	retry   in-place retries with backoff, outage waits without spending attempts (retry.go)
//	run     the Handler (with its own middleware: recover, timeout, see Chain)
//
// The ownership checks (Runner.lost) stay where they guard: before each
// start (chain), before each retry and after each outage wait (retry).
func (r *Runner) steps() step {
	rt := &retrier{maxAttempts: r.maxAttempts, backoff: r.backoff, metrics: r.metrics, stopping: r.workCtx,
		waitOutage: r.waitOutage, handBack: r.waits.handBack}
	return r.poison(r.admit(r.traced(rt.middleware(r.run))))
}

// run calls the handler for the event, at attempt h.attempt.
func (r *Runner) run(ctx context.Context, h *handling) error {
	return r.handler.Handle(WithAttempt(ctx, h.attempt), h.ev)
}

// traced runs the steps inside in the event's span (its name takes bounded
// labels, as tracing backends index names; the attributes name the event),
// with a context that keepAlive cancels when this replica may have lost
// the event (errOwnershipLost).
func (r *Runner) traced(next step) step {
	return func(ctx context.Context, h *handling) error {
		if tracing.Enabled() {
			ev := h.ev
			var span trace.Span
			ctx, span = tracing.Tracer().Start(tracing.Extract(ctx, h.j.msg.Headers()),
				"process "+event.PlatformLabel(ev.Platform)+"."+event.ActionLabel(ev.Platform, ev.Action),
				trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("chatwarden.event_id", ev.ID),
					attribute.String("chatwarden.chat_id", ev.ChatID), attribute.Int64("chatwarden.delivery", int64(h.md.NumDelivered))))
			defer span.End()
		}
		ctx, stop := context.WithCancelCause(ctx)
		r.mu.Lock()
		h.j.stop = stop
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			h.j.stop = nil
			r.mu.Unlock()
			stop(nil)
		}()
		return next(ctx, h)
	}
}

// process handles j through the steps and then only decides: acknowledge,
// terminate or hand it back. It returns why it left j alone instead (see
// lost), "" when it did not.
func (r *Runner) process(j *job) (lost string) {
	md := j.md // parsed on delivery
	if md == nil {
		var err error
		if md, err = j.msg.Metadata(); err != nil {
			r.logger.Error("message without JetStream metadata; terminating it", zap.String("subject", j.msg.Subject()), zap.Error(err))
			j.settle()
			_ = j.msg.Term()
			return ""
		}
	}
	h := &handling{j: j, md: md, ev: j.ev, lost: func() string { return r.lost(j) }}
	h.log = func(level zapcore.Level, msg string, fields ...zap.Field) {
		if ce := r.logger.Check(level, msg); ce != nil {
			ev := h.ev
			ce.Write(append([]zap.Field{zap.String("event_id", ev.ID), zap.String("platform", ev.Platform),
				zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID), zap.Uint64("delivery", md.NumDelivered)}, fields...)...)
		}
	}
	if j.err == nil && md.NumDelivered > 1 && r.superseded(j.ev.Key(), md.Sequence.Stream) {
		return r.skipSuperseded(j, h)
	}
	err := r.pipeline(r.workCtx, h)
	var le *lostError
	var tm *termination
	switch {
	case err == nil:
		if j.err == nil {
			r.noteApplied(j.ev.Key(), md.Sequence.Stream)
		}
		j.settle()
		r.freeSlot(j) // the handler is done; the ack's round trip needs no slot
		confirmed := r.ack(j.msg, h.log)
		ev := h.ev
		r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeAck).Inc()
		if !confirmed && r.workCtx.Err() == nil {
			// It may come back: the chat's later events wait for that,
			// left to their redelivery behind it.
			return "the acknowledgement of the chat's previous event was not confirmed"
		}
		return ""
	case errors.As(err, &le):
		return le.why
	case errors.As(err, &tm):
		j.settle()
		if terr := j.msg.TermWithReason(tm.reason); terr != nil {
			tm.log.Warn(tm.failed, zap.Error(terr))
		}
		tm.done()
		return ""
	default: // errHandBack
		j.settle()
		_ = j.msg.Nak()
		return ""
	}
}

// Acknowledgement confirmation: how long to wait for the broker's
// confirmation of an ack, and how many times to send it.
const (
	ackConfirmTimeout = 3 * time.Second
	ackAttempts       = 4
)

// ack acknowledges msg and waits for the broker to confirm it, sending it
// again when no confirmation comes (a broker node failing over). The chat's
// next event waits meanwhile: an unconfirmed ack that was lost would have the
// event redelivered after later events of its chat were applied. If no
// confirmation comes after ackAttempts, the event may be redelivered and
// handled again, which rules tolerate (idempotent actions repeat harmlessly,
// others are recorded in CHATWARDEN_DONE and skipped); ack reports false
// then, and the chat's later events are left to their redelivery (see
// abandon), so that they do not run before it.
func (r *Runner) ack(msg jetstream.Msg, log func(zapcore.Level, string, ...zap.Field)) (confirmed bool) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), ackConfirmTimeout)
		err := msg.DoubleAck(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return true
		}
		if attempt == ackAttempts || r.workCtx.Err() != nil {
			log(zapcore.WarnLevel, "acknowledging event not confirmed; it may be redelivered and handled again, so the chat's later events wait for their redelivery",
				zap.Int("attempts", attempt), zap.Error(err))
			return false
		}
		select {
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		case <-r.workCtx.Done():
		}
	}
}
