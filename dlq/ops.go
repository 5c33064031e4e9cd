package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// Outcomes of an operation on one dead letter (Result.Outcome).
const (
	Retried    = "retried"     // republished and removed from the dead-letter stream
	WouldRetry = "would_retry" // dry run: would be republished
	Purged     = "purged"      // removed from the dead-letter stream
	WouldPurge = "would_purge" // dry run: would be removed
	Skipped    = "skipped"     // left alone (cannot be retried); Error says why
	Failed     = "failed"      // the operation failed; the dead letter is kept; Error says why
)

// HeaderRetryOf is set on a republished event: the sequence number of the
// dead letter it was retried from.
const HeaderRetryOf = "Chatwarden-Retry-Of"

// Result is what an operation did to one dead letter.
type Result struct {
	Seq      uint64    `json:"seq"`
	EventID  string    `json:"event_id"`
	Platform string    `json:"platform,omitempty"`
	Action   string    `json:"action,omitempty"`
	ChatID   string    `json:"chat_id,omitempty"`
	Reason   string    `json:"reason"` // the dead letter's reason
	FailedAt time.Time `json:"failed_at"`
	Outcome  string    `json:"outcome"` // Retried, WouldRetry, Purged, WouldPurge, Skipped, Failed
	// Retry only: the Nats-Msg-Id of the republished event, its sequence in
	// CHATWARDEN_EVENTS, and whether JetStream had it already (an earlier
	// retry of this dead letter was stored but not removed).
	MsgID     string `json:"msg_id,omitempty"`
	EventSeq  uint64 `json:"event_seq,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Report is the answer of an operation on several dead letters:
// `dlq retry --all`, `dlq purge --older-than`, and their HTTP forms.
type Report struct {
	DryRun  bool     `json:"dry_run"`
	Results []Result `json:"results"`
	Done    int      `json:"done"` // retried or purged (would be, in a dry run)
	Skipped int      `json:"skipped"`
	Failed  int      `json:"failed"`
}

func (r *Report) add(res Result) {
	r.Results = append(r.Results, res)
	switch res.Outcome {
	case Skipped:
		r.Skipped++
	case Failed:
		r.Failed++
	default:
		r.Done++
	}
}

func resultOf(dl *DeadLetter) Result {
	return Result{Seq: dl.Seq, EventID: dl.ID, Platform: dl.Platform, Action: dl.Action, ChatID: dl.ChatID,
		Reason: dl.Reason, FailedAt: dl.FailedAt}
}

// RetryMsgID is the Nats-Msg-Id a retry of dead letter seq publishes its
// event with.
func RetryMsgID(eventID string, seq uint64) string {
	return fmt.Sprintf("%s-retry-%d", eventID, seq)
}

// Retry republishes the event of the dead letter ref names and, once
// JetStream acknowledged it, removes the dead letter. With dryRun it only
// checks that the dead letter can be retried. The error wraps ErrNotFound,
// ErrAmbiguous or ErrNotRetryable when the dead letter cannot be retried, or
// says what failed; the Result is meaningful whenever a dead letter was found.
func (s *Store) Retry(ctx context.Context, ref string, dryRun bool) (Result, error) {
	dl, err := s.resolve(ctx, ref)
	if err != nil {
		return Result{}, err
	}
	return s.retry(ctx, dl, dryRun, 0)
}

// RetryAll retries every dead letter matching f, oldest first. Dead letters
// that cannot be retried are skipped. It stops at the first failure (the
// broker is likely unavailable), leaving that one and the rest in place, and
// returns the report so far with the error.
func (s *Store) RetryAll(ctx context.Context, f Filter, dryRun bool) (*Report, error) {
	dls, err := s.List(ctx, f)
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: dryRun, Results: []Result{}}
	for i := range dls {
		res, err := s.retry(ctx, &dls[i], dryRun, 0)
		rep.add(res)
		if err != nil && !errors.Is(err, ErrNotRetryable) {
			return rep, err
		}
	}
	return rep, nil
}

// retry republishes dl's event; autoRetries > 0 (AutoRetry) is set as its
// consumer.HeaderAutoRetries.
func (s *Store) retry(ctx context.Context, dl *DeadLetter, dryRun bool, autoRetries int) (Result, error) {
	res := resultOf(dl)
	ev, err := retryable(dl)
	if err != nil {
		res.Outcome, res.Error = Skipped, err.Error()
		return res, err
	}
	res.MsgID = RetryMsgID(ev.ID, dl.Seq)
	if dryRun {
		res.Outcome = WouldRetry
		return res, nil
	}
	msg := &nats.Msg{Subject: dl.Subject, Data: dl.Event, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, res.MsgID)
	msg.Header.Set(HeaderRetryOf, strconv.FormatUint(dl.Seq, 10))
	if autoRetries > 0 {
		msg.Header.Set(consumer.HeaderAutoRetries, strconv.Itoa(autoRetries))
	}
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(bus.EventsStream))
	if err != nil {
		err = fmt.Errorf("republishing event %s of dead letter %d to %s: %w; the dead letter is kept, retry it again later",
			ev.ID, dl.Seq, dl.Subject, err)
		res.Outcome, res.Error = Failed, err.Error()
		return res, err
	}
	res.EventSeq, res.Duplicate = ack.Sequence, ack.Duplicate
	log := s.logger.With(zap.Uint64("dlq_seq", dl.Seq), zap.String("event_id", ev.ID),
		zap.String("platform", ev.Platform), zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID))
	if err := s.delete(ctx, dl.Seq); err != nil {
		err = fmt.Errorf("event %s was republished (events stream sequence %d), but removing dead letter %d failed: %w; "+
			"retry it again (the republished event is not duplicated) or purge it", ev.ID, ack.Sequence, dl.Seq, err)
		res.Outcome, res.Error = Failed, err.Error()
		log.Warn("dead letter retried but not removed", zap.Error(err))
		return res, err
	}
	res.Outcome = Retried
	log.Info("dead letter retried", zap.Uint64("event_seq", ack.Sequence), zap.Bool("duplicate", ack.Duplicate))
	return res, nil
}

// retryable decodes the dead letter's event and checks it can go back to
// the events stream.
func retryable(dl *DeadLetter) (*event.Event, error) {
	ev, err := event.Unmarshal(dl.Event)
	if err != nil {
		return nil, fmt.Errorf("dead letter %d %w: it holds no decodable event (%v); inspect it with show, then purge it",
			dl.Seq, ErrNotRetryable, err)
	}
	if !strings.HasPrefix(dl.Subject, event.SubjectPrefix+".") {
		return nil, fmt.Errorf("dead letter %d %w: its subject %q is not an events subject (%s.>)",
			dl.Seq, ErrNotRetryable, dl.Subject, event.SubjectPrefix)
	}
	return ev, nil
}

// Purge removes the dead letter ref names (with dryRun, only finds it).
func (s *Store) Purge(ctx context.Context, ref string, dryRun bool) (Result, error) {
	dl, err := s.resolve(ctx, ref)
	if err != nil {
		return Result{}, err
	}
	return s.purge(ctx, dl, dryRun)
}

// PurgeOlderThan removes every dead letter that failed more than age ago
// (with dryRun, only lists them), oldest first. It stops at the first
// failure and returns the report so far with the error.
func (s *Store) PurgeOlderThan(ctx context.Context, age time.Duration, dryRun bool) (*Report, error) {
	if age <= 0 {
		return nil, fmt.Errorf("%w: older than %s: want a positive duration", ErrInvalidArgument, age)
	}
	dls, err := s.List(ctx, Filter{Before: s.now().Add(-age)})
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: dryRun, Results: []Result{}}
	for i := range dls {
		res, err := s.purge(ctx, &dls[i], dryRun)
		rep.add(res)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (s *Store) purge(ctx context.Context, dl *DeadLetter, dryRun bool) (Result, error) {
	res := resultOf(dl)
	if dryRun {
		res.Outcome = WouldPurge
		return res, nil
	}
	if err := s.delete(ctx, dl.Seq); err != nil {
		err = fmt.Errorf("removing dead letter %d: %w", dl.Seq, err)
		res.Outcome, res.Error = Failed, err.Error()
		return res, err
	}
	res.Outcome = Purged
	s.logger.Info("dead letter purged", zap.Uint64("dlq_seq", dl.Seq), zap.String("event_id", dl.ID),
		zap.String("reason", dl.Reason))
	return res, nil
}

// delete removes message seq from the dead-letter stream. A message already
// gone (removed concurrently) counts as removed.
func (s *Store) delete(ctx context.Context, seq uint64) error {
	st, err := s.stream(ctx)
	if err != nil {
		return err
	}
	err = st.DeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return nil
	}
	return err
}
