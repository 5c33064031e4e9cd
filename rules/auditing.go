package rules

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// AsyncAuditor is an Auditor that can also send a record without waiting
// for it to be stored (audit.Writer is one). With it, the engine sends the
// decisions about an event as they are made and waits for all of them
// together before Handle returns: one round trip for an event's records
// instead of one per record, and still none acknowledged unstored.
type AsyncAuditor interface {
	Auditor
	// WriteAsync sends rec; wait reports whether it was stored (nil) or
	// not. A record counts as stored only once wait returned nil.
	WriteAsync(rec audit.Record) (wait func(ctx context.Context) error, err error)
}

// sentRecords are the records of one event sent and not yet known stored.
type sentRecords struct {
	mu     sync.Mutex
	recs   []audit.Record
	waits  []func(context.Context) error
	closed bool // awaited: later records are written synchronously
}

func (s *sentRecords) add(rec audit.Record, wait func(context.Context) error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.recs, s.waits = append(s.recs, rec), append(s.waits, wait)
	return true
}

type sentRecordsKey struct{}

// collectRecords returns ctx under which record sends records without
// waiting (when the auditor can), and what it sent, for awaitRecords. It
// returns nil when records are written one by one.
func (e *Engine) collectRecords(ctx context.Context) (context.Context, *sentRecords) {
	if _, ok := e.audit.(AsyncAuditor); !ok {
		return ctx, nil
	}
	s := &sentRecords{}
	return context.WithValue(ctx, sentRecordsKey{}, s), s
}

// awaitRecords waits until every record sent under s is stored. A record
// whose sending failed is written again synchronously (with write's
// retries; the message id makes a repeat a duplicate); if that fails too,
// the returned error makes the event retry, unacknowledged.
func (e *Engine) awaitRecords(ctx context.Context, s *sentRecords) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	recs, waits := s.recs, s.waits
	s.mu.Unlock()
	var first error
	for i, wait := range waits {
		err := wait(ctx)
		if err == nil {
			continue
		}
		e.logger.Warn("an audit record sent was not confirmed stored; writing it again", zap.String("rule", recs[i].Rule),
			zap.String("event_id", recs[i].EventID), zap.Error(err))
		if err := e.write(ctx, recs[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// auditFailureTimeout bounds writing the audit record of a failed attempt.
const auditFailureTimeout = 5 * time.Second

// auditFailure records a failed attempt; failing to record it is logged,
// since the event is retried or dead-lettered anyway.
//
// The record is written even when ctx has ended (the attempt ran out of
// workers.handler_timeout, or its call was cancelled): that failure is the
// one most worth recording. The write keeps ctx's values (the attempt) and
// gets auditFailureTimeout of its own; it is synchronous, never left to
// awaitRecords.
func (e *Engine) auditFailure(ctx context.Context, rec audit.Record) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditFailureTimeout)
	defer cancel()
	if err := e.write(ctx, e.decided(ctx, rec)); err != nil {
		e.logger.Error("auditing a failure failed", zap.String("rule", rec.Rule), zap.Error(err))
	}
}

// record counts, logs and stores rec: under Handle (see collectRecords) it
// is sent and Handle waits for it before returning; otherwise it is written
// now, retrying briefly. A decision that cannot be recorded makes the event
// retry.
func (e *Engine) record(ctx context.Context, rec audit.Record) error {
	rec = e.decided(ctx, rec)
	if s, _ := ctx.Value(sentRecordsKey{}).(*sentRecords); s != nil {
		if wait, err := e.audit.(AsyncAuditor).WriteAsync(rec); err == nil {
			if s.add(rec, wait) {
				return nil
			}
			if wait(ctx) == nil {
				return nil
			}
		}
	}
	return e.write(ctx, rec)
}

// decided counts and logs the decision rec and completes it (time, attempt).
func (e *Engine) decided(ctx context.Context, rec audit.Record) audit.Record {
	op := rec.Operation
	if op == "" {
		op = "rule"
	}
	// Labels come from bounded sets only: the platform's, and rule names
	// of the rule file (a re-check names its rule in the stored event,
	// which may name anything).
	rule := rec.Rule
	if _, ok := e.set.Load().byName[rule]; !ok {
		rule = event.OtherLabel
	}
	e.metrics.Actions.WithLabelValues(event.PlatformLabel(rec.Platform), op, rec.Outcome).Inc()
	e.metrics.RuleDecisions.WithLabelValues(rule, rec.Outcome).Inc()
	if ce := e.logger.Check(zap.InfoLevel, "rule decision"); ce != nil {
		ce.Write(zap.String("rule", rec.Rule), zap.String("event_id", rec.EventID), zap.String("platform", rec.Platform),
			zap.String("action", rec.Action), zap.String("chat_id", rec.ChatID), zap.String("operation", rec.Operation),
			zap.String("outcome", rec.Outcome), zap.String("reason", rec.Reason), zap.String("error", rec.Error))
	}
	if rec.Time.IsZero() {
		rec.Time = e.now().UTC()
	}
	rec.Attempt = consumer.Attempt(ctx)
	return rec
}

// write stores rec and waits for it, retrying briefly (three tries).
func (e *Engine) write(ctx context.Context, rec audit.Record) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = e.audit.Write(ctx, rec); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return consumer.Retry(fmt.Errorf("writing audit record: %w", err), 0)
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return consumer.Retry(fmt.Errorf("writing audit record: %w", err), 0)
}
