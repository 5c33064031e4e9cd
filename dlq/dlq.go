// Package dlq holds the operations on dead letters, the events the workers
// gave up on (see consumer.Runner): list, show, retry and purge. The
// `chatwarden dlq` command and the admin HTTP API (/admin/dlq) both call
// these functions, so they behave the same.
//
// A dead letter is named by its own sequence number in CHATWARDEN_DLQ (Seq):
// short, stable, and unique. Every operation that takes a reference also
// accepts the event id (DeadLetter.ID).
//
// Guarantees:
//   - Retry republishes the original event, unchanged (same id, so audit
//     records and idempotency keys stay the same), into CHATWARDEN_EVENTS on
//     its original subject, so the workers run the same rules on it again. It
//     uses the message id "<event id>-retry-<seq>" so that the events stream's
//     duplicate window, which still remembers the event id, does not swallow
//     it, while a repeated retry of the same dead letter collapses.
//   - Nothing is lost: the dead letter is removed only after JetStream
//     acknowledged the republished event. If publishing fails, it stays.
//   - Dry runs change nothing.
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
)

// Reasons are the dead-letter reasons a Filter accepts.
var Reasons = []string{consumer.ReasonPermanent, consumer.ReasonExhausted, consumer.ReasonUndecodable}

// DeadLetter is a stored dead letter and where it is stored. JSON: "seq"
// followed by the fields of consumer.DeadLetter ("id" is the event id,
// "stream_seq" the event's sequence in CHATWARDEN_EVENTS).
type DeadLetter struct {
	// Seq is the dead letter's sequence in CHATWARDEN_DLQ: the id operators
	// type (`chatwarden dlq show 42`, GET /admin/dlq/42).
	Seq uint64 `json:"seq"`
	consumer.DeadLetter
}

// Attempt is one failed attempt at the event, from the audit trail.
type Attempt struct {
	// Attempt is the delivery number the rule recorded; 0 when it recorded
	// none.
	Attempt   uint64    `json:"attempt"`
	Time      time.Time `json:"time"`
	Rule      string    `json:"rule"`
	Operation string    `json:"operation,omitempty"`
	Error     string    `json:"error"`
	Reason    string    `json:"reason,omitempty"`
}

// Detail is a dead letter with every failed attempt recorded for its event
// since the event was stored, ordered by attempt, then time.
type Detail struct {
	DeadLetter
	FailedAttempts []Attempt `json:"failed_attempts"`
}

// Listing is the JSON answer of a list: `dlq list --json` and GET /admin/dlq.
type Listing struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	Count       int          `json:"count"`
}

// NewListing wraps dls, never encoding a nil slice as null.
func NewListing(dls []DeadLetter) Listing {
	if dls == nil {
		dls = []DeadLetter{}
	}
	return Listing{DeadLetters: dls, Count: len(dls)}
}

// Filter selects dead letters. The zero Filter selects all. Times are
// compared with DeadLetter.FailedAt (when the worker gave up).
type Filter struct {
	Reason string    // one of Reasons; "" for all
	Since  time.Time // failed at or after; zero for no bound
	Before time.Time // failed before; zero for no bound
}

// Validate reports a bad Filter with ErrInvalidArgument.
func (f Filter) Validate() error {
	if f.Reason != "" && !slices.Contains(Reasons, f.Reason) {
		return fmt.Errorf("%w: reason %q: want one of %s", ErrInvalidArgument, f.Reason, strings.Join(Reasons, ", "))
	}
	return nil
}

func (f Filter) match(dl *DeadLetter) bool {
	switch {
	case f.Reason != "" && dl.Reason != f.Reason:
		return false
	case !f.Since.IsZero() && dl.FailedAt.Before(f.Since):
		return false
	case !f.Before.IsZero() && !dl.FailedAt.Before(f.Before):
		return false
	}
	return true
}

// Store runs the operations on the dead-letter stream of one JetStream. It
// is safe for concurrent use.
type Store struct {
	js     jetstream.JetStream
	logger *zap.Logger
	now    func() time.Time
}

// Option configures a Store.
type Option func(*Store) error

// WithLogger sets the logger; retries and purges are logged at info (default:
// discard).
func WithLogger(l *zap.Logger) Option {
	return func(s *Store) error {
		if l == nil {
			return errors.New("dlq: nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithClock sets the clock that "older than" is measured with (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Store) error {
		if now == nil {
			return errors.New("dlq: nil clock")
		}
		s.now = now
		return nil
	}
}

// New builds a Store over js. It does not check that the streams exist; each
// operation reports ErrNoStream when they do not.
func New(js jetstream.JetStream, opts ...Option) (*Store, error) {
	if js == nil {
		return nil, errors.New("dlq: JetStream is required")
	}
	s := &Store{js: js, logger: zap.NewNop(), now: time.Now}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.logger = s.logger.Named("dlq")
	return s, nil
}

// List returns the dead letters matching f, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	all, err := s.readAll(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for i := range all {
		if f.match(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// Get returns the dead letter ref names (its Seq, or its event id) with the
// failed attempts the audit trail holds for its event.
func (s *Store) Get(ctx context.Context, ref string) (*Detail, error) {
	dl, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	d := &Detail{DeadLetter: *dl, FailedAttempts: []Attempt{}}
	if dl.Platform == "" {
		return d, nil // undecodable: no event, no audit records
	}
	q := audit.Query{Platform: dl.Platform, ChatID: dl.ChatID}
	if !dl.StoredAt.IsZero() {
		q.Since = dl.StoredAt.Add(-time.Minute) // records come after the event was stored; a minute of slack for clocks
	}
	recs, err := audit.Read(ctx, s.js, q)
	if err != nil {
		return nil, fmt.Errorf("reading the audit records of event %s: %w", dl.ID, err)
	}
	for _, r := range recs {
		if r.EventID == dl.ID && r.Outcome == audit.Failed {
			d.FailedAttempts = append(d.FailedAttempts, Attempt{
				Attempt: r.Attempt, Time: r.Time, Rule: r.Rule, Operation: r.Operation, Error: r.Error, Reason: r.Reason,
			})
		}
	}
	slices.SortStableFunc(d.FailedAttempts, func(a, b Attempt) int {
		if a.Attempt != b.Attempt {
			return cmpUint(a.Attempt, b.Attempt)
		}
		return a.Time.Compare(b.Time)
	})
	return d, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Pending is the number of dead letters stored now.
func (s *Store) Pending(ctx context.Context) (uint64, error) {
	st, err := s.stream(ctx)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading stream %s: %w", bus.DeadLetterStream, err)
	}
	return info.State.Msgs, nil
}

// readAll reads every dead letter stored now, oldest first. A message that
// is not a dead letter (written by hand into the stream) is listed with its
// decoding error rather than failing the whole read, so it can be purged.
func (s *Store) readAll(ctx context.Context) ([]DeadLetter, error) {
	if _, err := s.stream(ctx); err != nil {
		return nil, err
	}
	var out []DeadLetter
	err := bus.ReadAll(ctx, s.js, bus.DeadLetterStream, jetstream.OrderedConsumerConfig{}, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("reading stream %s: message on %s without metadata: %w", bus.DeadLetterStream, m.Subject(), err)
		}
		out = append(out, decode(md.Sequence.Stream, m.Subject(), m.Data(), md.Timestamp))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decode builds a DeadLetter from a stored message.
func decode(seq uint64, subject string, data []byte, stored time.Time) DeadLetter {
	dl := DeadLetter{Seq: seq}
	if err := json.Unmarshal(data, &dl.DeadLetter); err != nil {
		dl.DeadLetter = consumer.DeadLetter{
			ID: fmt.Sprintf("dlq-seq-%d", seq), Subject: subject, Event: json.RawMessage("null"),
			Error: fmt.Sprintf("this message of %s is not a dead letter: %v", bus.DeadLetterStream, err),
		}
	}
	if dl.FailedAt.IsZero() {
		dl.FailedAt = stored.UTC()
	}
	return dl
}

// resolve finds the dead letter ref names: a sequence number of
// CHATWARDEN_DLQ, else an event id.
func (s *Store) resolve(ctx context.Context, ref string) (*DeadLetter, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, fmt.Errorf("%w: an empty dead-letter reference; give its number (SEQ) or event id", ErrInvalidArgument)
	}
	st, err := s.stream(ctx)
	if err != nil {
		return nil, err
	}
	if seq, perr := strconv.ParseUint(ref, 10, 64); perr == nil && seq > 0 {
		m, err := st.GetMsg(ctx, seq)
		switch {
		case err == nil:
			dl := decode(m.Sequence, m.Subject, m.Data, m.Time)
			return &dl, nil
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return nil, fmt.Errorf("reading dead letter %d: %w", seq, err)
		}
		// Not a sequence number in use: maybe an (all-digit) event id.
	}
	all, err := s.readAll(ctx)
	if err != nil {
		return nil, err
	}
	var found []DeadLetter
	for _, dl := range all {
		if dl.ID == ref {
			found = append(found, dl)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w %s", ErrNotFound, ref)
	case 1:
		return &found[0], nil
	default:
		seqs := make([]string, len(found))
		for i, dl := range found {
			seqs[i] = strconv.FormatUint(dl.Seq, 10)
		}
		return nil, fmt.Errorf("%w: event %s has %d dead letters (%s); name one by its number",
			ErrAmbiguous, ref, len(found), strings.Join(seqs, ", "))
	}
}

// stream looks up the dead-letter stream.
func (s *Store) stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := s.js.Stream(ctx, bus.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: has chatwarden run with this NATS configuration? (check nats.url, nats.listen and nats.data_dir)", ErrNoStream)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up stream %s: %w", bus.DeadLetterStream, err)
	}
	return st, nil
}
