package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

// giveUp is a handling error saying the event is to be dead-lettered: the
// poison middleware stores it in the dead-letter stream and has it
// terminated.
type giveUp struct {
	reason   string // ReasonPermanent, ReasonExhausted, ReasonUndecodable
	attempts uint64 // recorded in the dead letter
	err      error
}

func (g *giveUp) Error() string { return g.reason + ": " + g.err.Error() }
func (g *giveUp) Unwrap() error { return g.err }

// termination is a handling error saying the event is done with for good:
// process terminates it with reason, logs failed when terminating fails,
// and then calls done (metrics and the log line of the outcome).
type termination struct {
	reason string
	failed string // the warning when terminating fails
	log    *zap.Logger
	done   func()
}

func (t *termination) Error() string { return "terminate: " + t.reason }

// poison is the dead-lettering middleware (in the shape of watermill's
// PoisonQueue): an event the steps inside give up on (*giveUp) is stored in
// the dead-letter stream and then terminated (*termination), or handed back
// (errHandBack) when the runner stops before it is stored. Storing is
// retried in place meanwhile, so the chat's later events wait behind it.
// Other outcomes pass through.
func (r *Runner) poison(next step) step {
	return func(ctx context.Context, h *handling) error {
		err := next(ctx, h)
		var g *giveUp
		if !errors.As(err, &g) {
			return err
		}
		return r.deadLetter(h.j, h.md, g.reason, g.attempts, g.err)
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

// deadLetter stores the event in the dead-letter stream, recording
// attempts, and returns its termination. If storing fails because the
// broker is unavailable, it is retried in place (and handed back for
// redelivery on shutdown: errHandBack). If the sink refuses the dead letter
// for a reason tied to the event (ErrDeadLetterRefused: neither the full nor
// the reduced dead letter can be stored), the event is terminated with an
// error log, so that it cannot hold its chat forever.
func (r *Runner) deadLetter(j *job, md *jetstream.MsgMetadata, reason string, attempts uint64, cause error) error {
	dl := &DeadLetter{
		Event:     storedEventJSON(j.msg.Data()),
		Subject:   j.msg.Subject(),
		StreamSeq: md.Sequence.Stream,
		StoredAt:  md.Timestamp,
		Reason:    reason,
		Error:     cause.Error(),
		Attempts:  attempts,
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
			return &termination{reason: reason + "; dead letter refused", log: log,
				failed: "terminating an event whose dead letter was refused failed; a redelivery will try again",
				done: func() {
					r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(dl.Platform), event.ActionLabel(dl.Platform, dl.Action), metrics.OutcomeTerminated).Inc()
					log.Error("event given up without a dead letter: the broker refused both the dead letter and a reduced one; it stays in the events stream until its retention ends",
						zap.Uint64("stream_seq", md.Sequence.Stream), zap.String("reason", reason), zap.String("cause", dl.Error), zap.Error(err))
				}}
		}
		if r.workCtx.Err() != nil {
			log.Error("storing dead letter failed while stopping; the event will be redelivered", zap.Error(err))
			return errHandBack
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
	return &termination{reason: reason, log: log,
		failed: "terminating dead-lettered event failed; a redelivery will dead-letter it again (deduplicated)",
		done: func() {
			platform := event.PlatformLabel(dl.Platform)
			if dl.Platform == "" {
				platform = "unknown" // undecodable
			}
			r.metrics.DeadLetters.WithLabelValues(platform, reason).Inc()
			r.metrics.EventsProcessed.WithLabelValues(platform, event.ActionLabel(dl.Platform, dl.Action), metrics.OutcomeDeadLetter).Inc()
			log.Warn("event dead-lettered", zap.String("reason", reason), zap.String("error", dl.Error))
		}}
}
