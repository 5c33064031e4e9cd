package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// Status is what the workers decided about one sweep event, from its audit
// records and dead letter. Later statuses win over earlier ones when an
// event has several records (several rules, retries).
type Status int

// Statuses, weakest first.
const (
	Pending   Status = iota // no decision yet
	Retrying                // an attempt failed; the workers retry it
	Scheduled               // a delayed rule scheduled a re-check
	Skipped                 // every matching rule's condition was false
	DryRun                  // a rule would have acted (dry run)
	Acted                   // a rule acted with an action other than an unpin
	Unpinned                // a rule unpinned the chat
	Failed                  // the event was dead-lettered
)

var statusNames = [...]string{"pending", "retrying", "scheduled", "skipped", "dry_run", "acted", "unpinned", "failed"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// Decided reports whether the workers are done with the event.
func (s Status) Decided() bool { return s >= Scheduled }

// UnpinOperation is the action whose audit records count as unpinned.
const UnpinOperation = "livechat.unpin"

// Counts summarise a Tracker's events.
type Counts struct {
	Expected  int `json:"expected"`
	Unpinned  int `json:"unpinned"`
	Acted     int `json:"acted"` // by other actions than an unpin
	DryRun    int `json:"dry_run"`
	Skipped   int `json:"skipped"`
	Scheduled int `json:"scheduled"`
	Failed    int `json:"failed"`
	Pending   int `json:"pending"` // no decision yet (retrying included)
	Retrying  int `json:"retrying"`
}

// Decided is the number of expected events with a decision.
func (c Counts) Decided() int { return c.Expected - c.Pending }

// Tracker follows the workers' decisions about sweep events: it reads the
// audit records of a platform (chatwarden.audit.<platform>.*) and the dead
// letters of a sweep action (chatwarden.dlq.<platform>.<action>) stored
// since a time, and matches them to the events the sweep expects (Expect).
// Start it before publishing, from at least the duplicate window before
// now: an event an earlier run published in that window is not stored (nor
// decided) again, and its decision may already be recorded.
//
// It is the sweep's Window. Stop it when done. It is safe for concurrent
// use.
type Tracker struct {
	platform, action string
	idle             time.Duration
	now              func() time.Time

	mu       sync.Mutex
	expected map[string]*tracked
	seen     map[string]*tracked // decisions about events not expected (yet)
	counts   Counts
	last     time.Time     // last decision about an expected event
	changed  chan struct{} // closed and replaced on every change

	consumers []jetstream.ConsumeContext
}

type tracked struct {
	status Status
}

// TrackerOption configures a Tracker.
type TrackerOption func(*Tracker)

// WithIdle sets how long waits last without any decision before they fail
// with ErrNoProgress (default sweep.wait's, 2m).
func WithIdle(d time.Duration) TrackerOption {
	return func(t *Tracker) {
		if d > 0 {
			t.idle = d
		}
	}
}

// NewTracker starts following decisions about events of platform and
// action stored since since.
func NewTracker(ctx context.Context, js jetstream.JetStream, platform, action string, since time.Time, opts ...TrackerOption) (*Tracker, error) {
	t := &Tracker{
		platform: platform, action: action, idle: config.DefaultSweepWait, now: time.Now,
		expected: map[string]*tracked{}, seen: map[string]*tracked{}, changed: make(chan struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	t.last = t.now()
	start := since
	follow := func(stream, subject string, fn func(jetstream.Msg)) error {
		c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
		})
		if err != nil {
			return fmt.Errorf("following %s: %w", stream, err)
		}
		// An ordered consumer recreates itself after a failure (a lost
		// heartbeat, a reconnect) and resumes where it was; the idle time
		// bounds the waits if it never does.
		cc, err := c.Consume(fn)
		if err != nil {
			return fmt.Errorf("following %s: %w", stream, err)
		}
		t.consumers = append(t.consumers, cc)
		return nil
	}
	err := follow(bus.AuditStream, fmt.Sprintf("%s.%s.*", bus.AuditPrefix, event.Token(platform)), t.onAudit)
	if err == nil {
		err = follow(bus.DeadLetterStream, fmt.Sprintf("%s.%s.%s", bus.DeadLetterPrefix, event.Token(platform), event.ActionToken(action)), t.onDeadLetter)
	}
	if err != nil {
		t.Stop()
		return nil, err
	}
	return t, nil
}

// Stop stops following the streams.
func (t *Tracker) Stop() {
	for _, c := range t.consumers {
		c.Stop()
	}
	t.consumers = nil
}

func (t *Tracker) onAudit(m jetstream.Msg) {
	var rec audit.Record
	if json.Unmarshal(m.Data(), &rec) != nil || rec.Platform != t.platform || rec.Action != t.action || rec.EventID == "" {
		return
	}
	var s Status
	switch rec.Outcome {
	case audit.Acted:
		s = Acted
		if rec.Operation == UnpinOperation {
			s = Unpinned
		}
	case audit.DryRun:
		s = DryRun
	case audit.Skipped:
		s = Skipped
	case audit.Scheduled:
		s = Scheduled
	case audit.Failed:
		s = Retrying // final only with a dead letter
	default:
		return
	}
	t.record(rec.EventID, s)
}

func (t *Tracker) onDeadLetter(m jetstream.Msg) {
	var dl consumer.DeadLetter
	if json.Unmarshal(m.Data(), &dl) != nil || dl.ID == "" {
		return
	}
	t.record(dl.ID, Failed)
}

// record raises the status of event id (Failed, a dead letter, stays).
func (t *Tracker) record(id string, s Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, expected := t.expected[id]
	if !expected {
		if e = t.seen[id]; e == nil {
			e = &tracked{}
			t.seen[id] = e
		}
	}
	old := e.status
	if s > old {
		e.status = s
	}
	if expected && e.status != old {
		t.count(old, -1)
		t.count(e.status, +1)
		if e.status.Decided() {
			t.last = t.now()
		}
		t.notify()
	}
}

// count adjusts counts by d for status s. t.mu held.
func (t *Tracker) count(s Status, d int) {
	switch s {
	case Pending:
		t.counts.Pending += d
	case Retrying:
		t.counts.Pending += d
		t.counts.Retrying += d
	case Scheduled:
		t.counts.Scheduled += d
	case Skipped:
		t.counts.Skipped += d
	case DryRun:
		t.counts.DryRun += d
	case Acted:
		t.counts.Acted += d
	case Unpinned:
		t.counts.Unpinned += d
	case Failed:
		t.counts.Failed += d
	}
}

// notify wakes the waiters. t.mu held.
func (t *Tracker) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// Expect implements Window: ev was published (or was already stored).
func (t *Tracker) Expect(ev *event.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.expected[ev.ID]; dup {
		return
	}
	e := t.seen[ev.ID]
	delete(t.seen, ev.ID)
	if e == nil {
		e = &tracked{}
	}
	t.expected[ev.ID] = e
	t.counts.Expected++
	t.count(e.status, +1)
	t.notify()
}

// Counts returns the counts now.
func (t *Tracker) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}

// Status returns the status of an expected event.
func (t *Tracker) Status(id string) Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.expected[id]; ok {
		return e.status
	}
	return Pending
}

// WaitBelow implements Window: it returns once fewer than n expected events
// await a decision. It fails with ErrNoProgress when, while it waits, no
// expected event was decided for the idle time (WithIdle).
func (t *Tracker) WaitBelow(ctx context.Context, n int) error {
	t.mu.Lock()
	if t.counts.Pending < n {
		t.mu.Unlock()
		return nil
	}
	// The idle time counts from the last decision, or from now when the
	// last one is older (waiting just began).
	if since := t.now(); since.Sub(t.last) > time.Second {
		t.last = since
	}
	t.mu.Unlock()
	for {
		t.mu.Lock()
		pending, changed, last := t.counts.Pending, t.changed, t.last
		t.mu.Unlock()
		if pending < n {
			return nil
		}
		left := t.idle - t.now().Sub(last)
		if left <= 0 {
			return fmt.Errorf("%w: %d events without a decision for %s", ErrNoProgress, pending, t.idle)
		}
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-changed:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// WaitAll waits until every expected event is decided (WaitBelow(1)).
func (t *Tracker) WaitAll(ctx context.Context) error { return t.WaitBelow(ctx, 1) }
