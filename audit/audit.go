// Package audit records every rule decision (acted, skipped, failed, dry
// run) in the audit stream, so that "why was chat X unpinned?" has an answer.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
)

// Outcomes of a decision.
const (
	Acted     = "acted"     // the action was performed
	Skipped   = "skipped"   // the rule matched the event but its condition did not hold
	Failed    = "failed"    // the action was attempted and failed
	DryRun    = "dry_run"   // the action would have been performed
	Scheduled = "scheduled" // a delayed rule matched; its re-check is scheduled
)

// Record is one decision of one rule about one event.
type Record struct {
	Time      time.Time       `json:"time"`
	EventID   string          `json:"event_id"`
	Platform  string          `json:"platform"`
	Action    string          `json:"action"` // the event's action, e.g. chat_deactivated
	ChatID    string          `json:"chat_id,omitempty"`
	ThreadID  string          `json:"thread_id,omitempty"`
	Rule      string          `json:"rule"`
	Operation string          `json:"operation,omitempty"` // e.g. livechat.unpin
	Params    json.RawMessage `json:"params,omitempty"`
	Outcome   string          `json:"outcome"`
	Reason    string          `json:"reason,omitempty"` // why, in words
	Error     string          `json:"error,omitempty"`
	Attempt   uint64          `json:"attempt,omitempty"`
}

// Subject is where the record is stored: chatwarden.audit.<platform>.<chat>,
// so the records of one chat can be read with a subject filter. Platform
// and chat go through event.Token: a chat id that is not a short safe token
// (dots, spaces, 4,000 characters) gets a subject of its own, bounded in
// length, that no other chat shares; Read builds the same token.
func (r *Record) Subject() string {
	return fmt.Sprintf("%s.%s.%s", bus.AuditPrefix, event.Token(r.Platform), event.Token(r.ChatID))
}

// Writer stores records in the audit stream. The same decision about the same
// event (a redelivery) is stored once, unless the broker left a first write
// of it in doubt (see Write); failed attempts are each kept.
type Writer struct{ JS jetstream.JetStream }

// writeTimeout bounds the wait for one record's acknowledgement. A publish
// in flight when a stream leader fails (a NATS node dies) is never answered,
// so without a bound of its own a write would wait as long as ctx allows (a
// worker's handler: minutes) and hold up its event meanwhile. The caller
// retries instead; the message id makes a repeated write a duplicate.
const writeTimeout = 5 * time.Second

// Write stores rec and waits for JetStream's acknowledgement, at most
// writeTimeout (5s) or until ctx ends.
//
// When the stream answers that a write with the record's message id is
// still in process (a write whose proposal a failing stream leader never
// committed: the stream keeps its id in doubt until its duplicate window
// ends, and refuses every write with it meanwhile), the record is stored
// under an id of its own, once: the record may then be stored twice (if
// the write in doubt is stored after all), rather than hold up its event
// for the whole window and exhaust its attempts.
func (w Writer) Write(ctx context.Context, rec Record) error {
	msg, err := message(&rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	_, err = w.JS.PublishMsg(ctx, msg, jetstream.WithExpectStream(bus.AuditStream))
	if idInDoubt(err) {
		msg.Header.Set(jetstream.MsgIDHeader, msg.Header.Get(jetstream.MsgIDHeader)+"|again-"+nuid.Next())
		_, err = w.JS.PublishMsg(ctx, msg, jetstream.WithExpectStream(bus.AuditStream))
	}
	if err != nil {
		return fmt.Errorf("storing audit record for event %s, rule %s: %w", rec.EventID, rec.Rule, err)
	}
	return nil
}

// errCodeMsgIDInProcess is JetStream's error code for a write whose message
// id belongs to a write still in process (409 "duplicate message id is in
// process").
const errCodeMsgIDInProcess jetstream.ErrorCode = 10158

// idInDoubt reports whether err says that a write with the same message id
// is still in process.
func idInDoubt(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeMsgIDInProcess
}

// WriteAsync sends rec without waiting for it to be stored; wait waits for
// JetStream's acknowledgement (at most writeTimeout, 5s, or until its ctx
// ends) and says whether the record was stored. Records sent one after
// another are stored while the caller goes on, and their waits then take
// about one round trip together instead of one each. The record counts as
// stored only once wait returned nil.
func (w Writer) WriteAsync(rec Record) (wait func(ctx context.Context) error, err error) {
	msg, err := message(&rec)
	if err != nil {
		return nil, err
	}
	f, err := w.JS.PublishMsgAsync(msg, jetstream.WithExpectStream(bus.AuditStream), jetstream.WithStallWait(writeTimeout))
	if err != nil {
		return nil, fmt.Errorf("storing audit record for event %s, rule %s: %w", rec.EventID, rec.Rule, err)
	}
	return func(ctx context.Context) error {
		t := time.NewTimer(writeTimeout)
		defer t.Stop()
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return fmt.Errorf("storing audit record for event %s, rule %s: %w", rec.EventID, rec.Rule, err)
		case <-t.C:
			return fmt.Errorf("storing audit record for event %s, rule %s: no acknowledgement within %s", rec.EventID, rec.Rule, writeTimeout)
		case <-ctx.Done():
			return fmt.Errorf("storing audit record for event %s, rule %s: %w", rec.EventID, rec.Rule, ctx.Err())
		}
	}, nil
}

// message is rec as stored, with the message id that makes a repeated
// write of the same decision a duplicate (a failed attempt's record is kept
// per attempt); rec.Time is set to now when unset.
func message(rec *Record) (*nats.Msg, error) {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encoding audit record for event %s: %w", rec.EventID, err)
	}
	id := fmt.Sprintf("%s|%s|%s|%s", event.Token(rec.EventID), rec.Rule, rec.Operation, rec.Outcome)
	if rec.Outcome == Failed {
		id = fmt.Sprintf("%s|%d", id, rec.Attempt)
	}
	msg := &nats.Msg{Subject: rec.Subject(), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	return msg, nil
}

// Query selects records to read.
type Query struct {
	Platform string // default: all
	ChatID   string // default: all
	Rule     string
	Since    time.Time
}

// Read returns the stored records matching q, oldest first, up to the last
// record present when called.
func Read(ctx context.Context, js jetstream.JetStream, q Query) ([]Record, error) {
	platform, chat := "*", "*"
	if q.Platform != "" {
		platform = event.Token(q.Platform)
	}
	if q.ChatID != "" {
		chat = event.Token(q.ChatID)
	}
	subject := fmt.Sprintf("%s.%s.%s", bus.AuditPrefix, platform, chat)
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	if !q.Since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		since := q.Since
		cfg.OptStartTime = &since
	}
	var out []Record
	err := bus.ReadAll(ctx, js, bus.AuditStream, cfg, func(m jetstream.Msg) error {
		var r Record
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			return fmt.Errorf("decoding audit record on %s: %w", m.Subject(), err)
		}
		if q.Rule == "" || r.Rule == q.Rule {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
