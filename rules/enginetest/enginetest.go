// Package enginetest holds in-memory stand-ins for what a rules.Engine
// writes to, for tests of the engine and of platform adapters' actions (the
// way net/http/httptest serves tests of handlers).
package enginetest

import (
	"context"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/event"
)

// Audit is an in-memory rules.Auditor. Safe for concurrent use.
type Audit struct {
	mu   sync.Mutex
	recs []audit.Record
	fail int
}

// FailNext makes the next n writes fail (with context.DeadlineExceeded).
func (m *Audit) FailNext(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = n
}

// Write implements rules.Auditor.
func (m *Audit) Write(_ context.Context, r audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return context.DeadlineExceeded
	}
	m.recs = append(m.recs, r)
	return nil
}

// Records returns a copy of the records written, in order.
func (m *Audit) Records() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Record(nil), m.recs...)
}

// ByRule returns the outcomes per rule, each "outcome:operation" when the
// record names an operation ("acted:livechat.unpin", "skipped", ...).
func (m *Audit) ByRule() map[string][]string {
	out := map[string][]string{}
	for _, r := range m.Records() {
		o := r.Outcome
		if r.Operation != "" {
			o += ":" + r.Operation
		}
		out[r.Rule] = append(out[r.Rule], o)
	}
	return out
}

// Scheduler is an in-memory rules.Scheduler: it records the re-checks it is
// asked for. Safe for concurrent use.
type Scheduler struct {
	mu  sync.Mutex
	evs []*event.Event
	at  []time.Time
}

// ScheduleRecheck implements rules.Scheduler.
func (s *Scheduler) ScheduleRecheck(_ context.Context, ev *event.Event, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, ev)
	s.at = append(s.at, at)
	return nil
}

// Scheduled returns the re-check events asked for and when, in order.
func (s *Scheduler) Scheduled() ([]*event.Event, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*event.Event(nil), s.evs...), append([]time.Time(nil), s.at...)
}

// ForgetfulDone is a rules.DoneStore that loses every record: as a worker
// that died after an action and before recording it.
type ForgetfulDone struct{}

// IsDone implements rules.DoneStore: never.
func (ForgetfulDone) IsDone(context.Context, string) (bool, error) { return false, nil }

// MarkDone implements rules.DoneStore: forgets.
func (ForgetfulDone) MarkDone(context.Context, string) error { return nil }
