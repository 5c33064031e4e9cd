package consumer

import (
	"context"
	"encoding/json"
	"fmt"
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
type JetStreamDeadLetters struct{ JS jetstream.JetStream }

// DeadLetter implements DeadLetterSink.
func (s JetStreamDeadLetters) DeadLetter(ctx context.Context, dl *DeadLetter) error {
	data, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encoding dead letter %s: %w", dl.ID, err)
	}
	platform := dl.Platform
	if platform == "" {
		platform = "unknown"
	}
	msg := &nats.Msg{
		Subject: fmt.Sprintf("%s.%s.%s", bus.DeadLetterPrefix, event.Token(platform), event.ActionToken(dl.Action)),
		Data:    data,
		Header:  nats.Header{},
	}
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dlq-%d-%s", dl.StreamSeq, event.Token(dl.ID)))
	if _, err := s.JS.PublishMsg(ctx, msg, jetstream.WithExpectStream(bus.DeadLetterStream)); err != nil {
		return fmt.Errorf("storing dead letter for event %s: %w", dl.ID, err)
	}
	return nil
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
