package consumer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// process handles j: acknowledging, dead-lettering or handing it back. It
// returns why it left j alone instead (see lost), "" when it did not.
func (r *Runner) process(j *job) (lost string) {
	var err error
	md := j.md // parsed on delivery
	if md == nil {
		md, err = j.msg.Metadata()
	}
	if err != nil {
		r.logger.Error("message without JetStream metadata; terminating it", zap.String("subject", j.msg.Subject()), zap.Error(err))
		j.settle()
		_ = j.msg.Term()
		return
	}
	if j.err != nil {
		r.deadLetter(j, md, ReasonUndecodable, j.err)
		return
	}
	ev := j.ev
	if r.waits.behind(ev.Key()) {
		// Stopping: an earlier event of the chat waiting for its platform
		// was handed back; this one goes back behind it.
		j.settle()
		_ = j.msg.Nak()
		return
	}
	delivery := md.NumDelivered
	// log writes a line about this event; its fields are only built when
	// the line is (most events log nothing).
	log := func(level zapcore.Level, msg string, fields ...zap.Field) {
		if ce := r.logger.Check(level, msg); ce != nil {
			ce.Write(append([]zap.Field{zap.String("event_id", ev.ID), zap.String("platform", ev.Platform),
				zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID), zap.Uint64("delivery", delivery)}, fields...)...)
		}
	}
	if md.NumDelivered > r.maxAttempts {
		r.deadLetter(j, md, ReasonExhausted, fmt.Errorf(
			"delivered %d times, more than workers.max_attempts=%d (an earlier attempt crashed or timed out)",
			md.NumDelivered, r.maxAttempts))
		return
	}

	// The span name takes bounded labels (tracing backends index names);
	// the attributes name the event.
	ctx, span := tracing.Tracer().Start(tracing.Extract(r.workCtx, j.msg.Headers()),
		"process "+event.PlatformLabel(ev.Platform)+"."+event.ActionLabel(ev.Platform, ev.Action),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("chatwarden.event_id", ev.ID),
			attribute.String("chatwarden.chat_id", ev.ChatID), attribute.Int64("chatwarden.delivery", int64(md.NumDelivered))))
	defer span.End()
	ctx, stop := context.WithCancelCause(ctx)
	r.mu.Lock()
	j.stop = stop
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		j.stop = nil
		r.mu.Unlock()
		stop(nil)
	}()
	// waits counts the tries after a wait for an unavailable platform,
	// which spend no attempt but may repeat a call that reached it: the
	// handler sees attempt+waits, so that a non-idempotent action checks
	// whether it already took effect.
	var waits uint64
	for attempt := md.NumDelivered; ; attempt++ {
		err = r.handler.Handle(WithAttempt(ctx, attempt+waits), ev)
		if err != nil && context.Cause(ctx) == errOwnershipLost {
			return cmp.Or(r.lost(j), errOwnershipLost.Error())
		}
		if err != nil {
			span.AddEvent("attempt failed", trace.WithAttributes(attribute.Int64("attempt", int64(attempt)), attribute.String("error", err.Error())))
		}
		if w, ok := waiter(err); ok {
			// The platform is unavailable: wait for it without spending
			// an attempt (the same attempt runs again).
			log(zapcore.DebugLevel, "platform unavailable; the event waits, its attempts not spent", zap.Error(err))
			r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeWait).Inc()
			if !r.waitOutage(w.Ready()) {
				r.waits.handBack(ev.Key())
				j.settle()
				_ = j.msg.Nak()
				return
			}
			if why := r.lost(j); why != "" {
				return why
			}
			attempt--
			waits++
			continue
		}
		permanent, hint := Classify(err)
		switch {
		case err == nil:
			j.settle()
			confirmed := r.ack(j.msg, log)
			r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeAck).Inc()
			if !confirmed && r.workCtx.Err() == nil {
				// It may come back: the chat's later events wait for
				// that, left to their redelivery behind it.
				return "the acknowledgement of the chat's previous event was not confirmed"
			}
			return
		case permanent:
			log(zapcore.WarnLevel, "permanent failure; dead-lettering the event", zap.Error(err))
			md.NumDelivered = attempt
			r.deadLetter(j, md, ReasonPermanent, err)
			return
		case attempt >= r.maxAttempts:
			log(zapcore.WarnLevel, "attempts exhausted; dead-lettering the event", zap.Error(err))
			md.NumDelivered = attempt
			r.deadLetter(j, md, ReasonExhausted, err)
			return
		case r.workCtx.Err() != nil:
			// Shutting down: leave it for redelivery without counting a failure.
			j.settle()
			_ = j.msg.Nak()
			return
		}
		delay := r.backoff.Delay(attempt, hint)
		log(zapcore.InfoLevel, "retryable failure; retrying in place, later events of this chat wait",
			zap.Duration("delay", delay), zap.Uint64("attempt", attempt), zap.Error(err))
		r.metrics.Retries.WithLabelValues(event.PlatformLabel(ev.Platform)).Inc()
		r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeRetry).Inc()
		select {
		case <-time.After(delay):
		case <-r.workCtx.Done():
			j.settle()
			_ = j.msg.Nak()
			return
		}
		if why := r.lost(j); why != "" {
			return why
		}
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

// storedEventJSON is the JSON of a stored event for its dead letter: the
// event decompressed, or, when the message is not a readable event at all,
// its bytes as a JSON string.
func storedEventJSON(stored []byte) json.RawMessage {
	if b, err := event.JSON(stored); err == nil && json.Valid(b) {
		return b
	}
	b, _ := json.Marshal(strings.ToValidUTF8(string(stored), "\uFFFD"))
	return b
}

// deadLetter stores the event in the dead-letter stream and terminates it.
// If storing fails because the broker is unavailable, it is retried in
// place (and handed back for redelivery on shutdown). If the sink refuses
// the dead letter for a reason tied to the event (ErrDeadLetterRefused:
// neither the full nor the reduced dead letter can be stored), the event is
// terminated with an error log, so that it cannot hold its chat forever.
func (r *Runner) deadLetter(j *job, md *jetstream.MsgMetadata, reason string, cause error) {
	dl := &DeadLetter{
		Event:     storedEventJSON(j.msg.Data()),
		Subject:   j.msg.Subject(),
		StreamSeq: md.Sequence.Stream,
		StoredAt:  md.Timestamp,
		Reason:    reason,
		Error:     cause.Error(),
		Attempts:  md.NumDelivered,
		FailedAt:  time.Now().UTC(),
		ID:        fmt.Sprintf("seq-%d", md.Sequence.Stream),
	}
	if j.ev != nil {
		dl.ID, dl.Platform, dl.Action, dl.ChatID = j.ev.ID, j.ev.Platform, j.ev.Action, j.ev.ChatID
	}
	var pe *PermanentError
	if errors.As(cause, &pe) {
		dl.Cause = pe.Reason
	}
	var ae *ActionError
	if errors.As(cause, &ae) {
		dl.Rule, dl.Operation = ae.Rule, ae.Action
	}
	dl.Outage = reason == ReasonExhausted && isOutage(cause)
	dl.AutoRetries = autoRetries(j.msg)
	log := r.logger.With(zap.String("event_id", dl.ID), zap.String("platform", dl.Platform),
		zap.String("action", dl.Action), zap.String("chat_id", dl.ChatID))
	// Storing is retried in place, so the chat's later events keep waiting
	// behind this one; only a shutdown hands it back for redelivery.
	for attempt := uint64(1); ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.dlq.DeadLetter(ctx, dl)
		cancel()
		if err == nil {
			break
		}
		if errors.Is(err, ErrDeadLetterRefused) {
			// Retrying would fail the same way: the event must not hold its
			// chat forever. It stays in the events stream (retention).
			j.settle()
			if terr := j.msg.TermWithReason(reason + "; dead letter refused"); terr != nil {
				log.Warn("terminating an event whose dead letter was refused failed; a redelivery will try again", zap.Error(terr))
			}
			r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(dl.Platform), event.ActionLabel(dl.Platform, dl.Action), metrics.OutcomeTerminated).Inc()
			log.Error("event given up without a dead letter: the broker refused both the dead letter and a reduced one; it stays in the events stream until its retention ends",
				zap.Uint64("stream_seq", md.Sequence.Stream), zap.String("reason", reason), zap.String("cause", dl.Error), zap.Error(err))
			return
		}
		if r.workCtx.Err() != nil {
			log.Error("storing dead letter failed while stopping; the event will be redelivered", zap.Error(err))
			j.settle()
			_ = j.msg.Nak()
			return
		}
		delay := min(r.backoff.Delay(attempt, 0), r.ackWait/3)
		log.Error("storing dead letter failed; retrying in place, later events of this chat wait",
			zap.Uint64("attempt", attempt), zap.Duration("delay", delay), zap.Error(err))
		_ = j.msg.InProgress()
		select {
		case <-time.After(delay):
		case <-r.workCtx.Done():
		}
	}
	j.settle()
	if err := j.msg.TermWithReason(reason); err != nil {
		log.Warn("terminating dead-lettered event failed; a redelivery will dead-letter it again (deduplicated)", zap.Error(err))
	}
	platform := event.PlatformLabel(dl.Platform)
	if dl.Platform == "" {
		platform = "unknown" // undecodable
	}
	r.metrics.DeadLetters.WithLabelValues(platform, reason).Inc()
	r.metrics.EventsProcessed.WithLabelValues(platform, event.ActionLabel(dl.Platform, dl.Action), metrics.OutcomeDeadLetter).Inc()
	log.Warn("event dead-lettered", zap.String("reason", reason), zap.String("error", dl.Error))
}
