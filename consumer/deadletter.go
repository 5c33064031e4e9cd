package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
)

// DeadLetter is what the dead-letter stream keeps about an event given up
// on: the event itself, where it was stored, why it was given up, and which
// rule and action failed.
type DeadLetter struct {
	ID        string          `json:"id"` // event id, or "seq-<n>" for an undecodable message
	Platform  string          `json:"platform,omitempty"`
	Action    string          `json:"action,omitempty"`
	ChatID    string          `json:"chat_id,omitempty"`
	Event     json.RawMessage `json:"event"` // the stored event, unchanged
	Subject   string          `json:"subject"`
	StreamSeq uint64          `json:"stream_seq"`
	StoredAt  time.Time       `json:"stored_at"`
	Reason    string          `json:"reason"`          // ReasonPermanent, ReasonExhausted, ReasonUndecodable
	Cause     string          `json:"cause,omitempty"` // PermanentError.Reason, e.g. "validation"
	Error     string          `json:"error"`
	Rule      string          `json:"rule,omitempty"`
	Operation string          `json:"operation,omitempty"` // the action that failed, e.g. livechat.unpin
	Attempts  uint64          `json:"attempts"`
	FailedAt  time.Time       `json:"failed_at"`
	// Reduced, when set, says why this is a reduced dead letter: the full
	// one could not be stored (too large for the broker, say). A reduced
	// dead letter has no Event (null) and its strings are cut short; the
	// event itself is still in the events stream at StreamSeq until its
	// retention ends.
	Reduced string `json:"reduced,omitempty"`
	// Outage says the last failure was an outage of the platform (a
	// connection error, a timeout, a 5xx answer; see OutageError): the
	// event is retried by itself once the platform answers again
	// (dlq.auto_retry).
	Outage bool `json:"outage,omitempty"`
	// AutoRetries is how many times the event was retried by dlq.auto_retry
	// before this dead letter (the Chatwarden-Auto-Retries header).
	AutoRetries int `json:"auto_retries,omitempty"`
}

// DeadLetterSink stores dead letters durably.
type DeadLetterSink interface {
	DeadLetter(ctx context.Context, dl *DeadLetter) error
}

// JetStreamDeadLetters stores dead letters in the dead-letter stream under
// chatwarden.dlq.<platform>.<action> (tokens of event.Token and
// event.ActionToken: valid and bounded whatever the event holds), one per
// event: a repeated dead letter of the same event (after a crash between
// storing and terminating) collapses.
//
// When the broker refuses the dead letter for a reason tied to the event
// (larger than the broker's or the stream's message limit, an id or header
// it rejects), it stores a reduced dead letter instead (see
// DeadLetter.Reduced): no event, strings cut to a few hundred bytes, on
// the fixed subject ReducedDeadLetterSubject, with an id made of the
// stream sequence only. If even that is refused, DeadLetter returns an
// error wrapping ErrDeadLetterRefused, and the runner terminates the event
// with an error log instead of retrying. Failures of the broker itself
// (disconnected, no answer in time, no stream leader) are returned as
// they are, and the runner retries them.
type JetStreamDeadLetters struct{ JS jetstream.JetStream }

// ReducedDeadLetterSubject is where reduced dead letters are stored: fixed,
// so nothing of the event can make it invalid.
const ReducedDeadLetterSubject = bus.DeadLetterPrefix + ".reduced.dead_letter"

// reducedFieldLen bounds each string of a reduced dead letter.
const reducedFieldLen = 256

// DeadLetter implements DeadLetterSink.
func (s JetStreamDeadLetters) DeadLetter(ctx context.Context, dl *DeadLetter) error {
	platform := dl.Platform
	if platform == "" {
		platform = "unknown"
	}
	subject := fmt.Sprintf("%s.%s.%s", bus.DeadLetterPrefix, event.Token(platform), event.ActionToken(dl.Action))
	full := s.publish(ctx, dl, subject, fmt.Sprintf("dlq-%d-%s", dl.StreamSeq, event.Token(dl.ID)))
	if full == nil || brokerFailure(full) {
		return full
	}
	r := dl.reduced(full)
	err := s.publish(ctx, r, ReducedDeadLetterSubject, fmt.Sprintf("dlq-%d-reduced", dl.StreamSeq))
	switch {
	case err == nil:
		return nil
	case brokerFailure(err):
		return err
	}
	return fmt.Errorf("%w: event %.64s: full: %w; reduced: %w", ErrDeadLetterRefused, dl.ID, full, err)
}

func (s JetStreamDeadLetters) publish(ctx context.Context, dl *DeadLetter, subject, msgID string) error {
	data, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encoding dead letter %.64s: %w", dl.ID, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := s.JS.PublishMsg(ctx, msg, jetstream.WithExpectStream(bus.DeadLetterStream)); err != nil {
		return fmt.Errorf("storing dead letter for event %.64s on %s: %w", dl.ID, subject, err)
	}
	return nil
}

// reduced is dl without the event and with its strings cut to
// reducedFieldLen bytes, saying why (cause: the full one's failure).
func (dl *DeadLetter) reduced(cause error) *DeadLetter {
	cut := func(s string) string { return strings.ToValidUTF8(s[:min(len(s), reducedFieldLen)], "") }
	return &DeadLetter{
		ID: cut(dl.ID), Platform: cut(dl.Platform), Action: cut(dl.Action), ChatID: cut(dl.ChatID),
		Event: json.RawMessage("null"), Subject: cut(dl.Subject), StreamSeq: dl.StreamSeq, StoredAt: dl.StoredAt,
		Reason: dl.Reason, Cause: cut(dl.Cause), Error: cut(dl.Error), Rule: cut(dl.Rule), Operation: cut(dl.Operation),
		Attempts: dl.Attempts, FailedAt: dl.FailedAt,
		Reduced: cut(fmt.Sprintf("the full dead letter was refused (%v); the event is at sequence %d of %s",
			cause, dl.StreamSeq, bus.EventsStream)),
	}
}

// brokerFailure reports whether err is a failure of the broker or the
// connection (worth retrying the same message later) rather than a refusal
// of the message itself.
func brokerFailure(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500 || apiErr.Code == 0
	}
	for _, e := range []error{context.DeadlineExceeded, context.Canceled, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, nats.ErrConnectionClosed, nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, nats.ErrSlowConsumer} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ReadDeadLetters returns the dead letters stored now, oldest first.
func ReadDeadLetters(ctx context.Context, js jetstream.JetStream) ([]DeadLetter, error) {
	var out []DeadLetter
	err := bus.ReadAll(ctx, js, bus.DeadLetterStream, jetstream.OrderedConsumerConfig{}, func(m jetstream.Msg) error {
		var dl DeadLetter
		if err := json.Unmarshal(m.Data(), &dl); err != nil {
			return fmt.Errorf("decoding dead letter on %s: %w", m.Subject(), err)
		}
		out = append(out, dl)
		return nil
	})
	return out, err
}
