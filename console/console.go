// Package console is the operator's web console: the static page served
// under /ui (embedded, plain HTML, CSS and JavaScript; see Static) and the
// answers of its JSON API under /admin/api/ (see handlers/console.go):
//
//   - Overview: live counters from this process's metrics and from the
//     streams' and consumers' state in JetStream (shared by every process).
//   - Recent: the newest stored events, each with the rule decisions recorded
//     for it (joined with the audit records by event id) and its dead letters.
//   - Timeline: the same for one chat: its events, decisions, actions,
//     failures and dead letters, oldest first.
//   - Rules: the rules in force, their dry-run state and how often each
//     decided what, from the audit trail.
//
// Everything is read from the streams with bounded reads of their newest
// messages, so the console stays fast on a large stream; an answer that hit
// the bound says so (truncated). WatchStreams keeps the stream and consumer
// gauges of package metrics current for Prometheus.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/breaker"
	"github.com/chatwarden/chatwarden/rules"
)

const (
	// defaultMaxScan bounds the messages one answer reads from one stream.
	defaultMaxScan = 50_000
	// DefaultLimit and MaxLimit bound Recent.
	DefaultLimit = 50
	MaxLimit     = 500
	// DefaultRulesWindow is how far back Rules counts decisions.
	DefaultRulesWindow = 24 * time.Hour
	// maxPayload is the largest event payload an answer carries inline.
	maxPayload = 16 << 10
	// clockSlack widens time bounds between an event and its records.
	clockSlack = time.Minute
)

// Platforms are the platforms a chat is looked up on when none is given.
var Platforms = []string{event.LiveChat, event.HelpCrunch, event.RocketChat}

// DeadLetterLister lists stored dead letters; *dlq.Store implements it.
type DeadLetterLister interface {
	List(ctx context.Context, f dlq.Filter) ([]dlq.DeadLetter, error)
}

var _ DeadLetterLister = (*dlq.Store)(nil)

// RulesFunc returns the rule set in force in this process and whether every
// rule runs in dry run (workers.dry_run, `work --dry-run`, or the built-in
// example rules).
type RulesFunc func() (set *rules.RuleSet, dryRunAll bool, err error)

// Console answers the console's questions from JetStream. It is safe for
// concurrent use.
type Console struct {
	js          jetstream.JetStream
	partitions  int
	deadLetters DeadLetterLister
	gatherer    prometheus.Gatherer
	rules       RulesFunc
	logger      *zap.Logger
	now         func() time.Time
	maxScan     int
	store       func() bus.StoreState
	breakers    func() []breaker.Status
}

// Option configures a Console.
type Option func(*Console) error

// WithDeadLetters sets where dead letters are listed (default: none are
// shown).
func WithDeadLetters(d DeadLetterLister) Option {
	return func(c *Console) error { c.deadLetters = d; return nil }
}

// WithGatherer sets the metrics registry Overview reads this process's
// counters from (default: no counters).
func WithGatherer(g prometheus.Gatherer) Option {
	return func(c *Console) error { c.gatherer = g; return nil }
}

// WithRules sets where the rules in force come from (default: Rules answers
// ErrNoRules).
func WithRules(f RulesFunc) Option { return func(c *Console) error { c.rules = f; return nil } }

// WithStore sets where Overview learns whether events can be stored now
// (*bus.Bus's StoreState; default: Overview.Store is nil).
func WithStore(f func() bus.StoreState) Option {
	return func(c *Console) error { c.store = f; return nil }
}

// WithBreakers sets where Overview reads the platform API circuit
// breakers' states (internal/breaker.Set.Statuses). Default: none.
func WithBreakers(f func() []breaker.Status) Option {
	return func(c *Console) error { c.breakers = f; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *zap.Logger) Option {
	return func(c *Console) error {
		if l == nil {
			return errors.New("console: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithClock sets the clock windows are measured with (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Console) error {
		if now == nil {
			return errors.New("console: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithMaxScan bounds the messages one answer reads from one stream (default
// 50,000). Answers that reach it are marked truncated.
func WithMaxScan(n int) Option {
	return func(c *Console) error {
		if n < 1 {
			return fmt.Errorf("console: max scan must be at least 1, got %d", n)
		}
		c.maxScan = n
		return nil
	}
}

// New builds a Console over js; partitions is nats.partitions (events of a
// chat are looked up in its partition only).
func New(js jetstream.JetStream, partitions int, opts ...Option) (*Console, error) {
	if js == nil {
		return nil, errors.New("console: JetStream is required")
	}
	c := &Console{js: js, partitions: max(partitions, 1), logger: zap.NewNop(), now: time.Now, maxScan: defaultMaxScan}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	c.logger = c.logger.Named("console")
	return c, nil
}

// Event is a stored event as the console shows it.
type Event struct {
	Seq        uint64          `json:"seq"` // in CHATWARDEN_EVENTS
	Subject    string          `json:"subject"`
	StoredAt   time.Time       `json:"stored_at"`
	ID         string          `json:"id"`
	Platform   string          `json:"platform"`
	Action     string          `json:"action"`
	Tenant     string          `json:"tenant,omitempty"`
	ChatID     string          `json:"chat_id,omitempty"`
	ThreadID   string          `json:"thread_id,omitempty"`
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"received_at"`
	Recheck    *event.Recheck  `json:"recheck,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	// PayloadBytes is the payload's size; the payload itself is left out
	// above 16 KiB.
	PayloadBytes int `json:"payload_bytes"`
}

// DeadLetter is a dead letter of an event, in short.
type DeadLetter struct {
	Seq       uint64    `json:"seq"` // in CHATWARDEN_DLQ: GET /admin/dlq/{seq}
	Reason    string    `json:"reason"`
	Cause     string    `json:"cause,omitempty"`
	Error     string    `json:"error"`
	Rule      string    `json:"rule,omitempty"`
	Operation string    `json:"operation,omitempty"`
	Attempts  uint64    `json:"attempts"`
	FailedAt  time.Time `json:"failed_at"`
}

// Entry is one event with what was decided and done about it. Event is nil
// when the event is no longer stored (nats.retention) but records of it are.
type Entry struct {
	EventID     string         `json:"event_id"`
	Time        time.Time      `json:"time"` // when the event was received, else its first record
	Event       *Event         `json:"event"`
	Decisions   []audit.Record `json:"decisions"`    // oldest first
	DeadLetters []DeadLetter   `json:"dead_letters"` // oldest first
}

// Page is a list of entries and how much was read to build it.
type Page struct {
	Entries []Entry `json:"entries"`
	Count   int     `json:"count"`
	// Scanned is the number of stream messages read; Truncated is true when
	// a read stopped at its bound, so older entries may be missing.
	Scanned   int  `json:"scanned"`
	Truncated bool `json:"truncated"`
}

// RecentQuery selects recent events. Zero values mean: DefaultLimit, every
// platform and action, no time bound.
type RecentQuery struct {
	Limit    int
	Platform string
	Action   string
	Since    time.Time
}

// Recent returns the newest stored events (newest first) matching q, with
// their decisions and dead letters. Re-check events of delayed rules are
// events too (source "recheck").
func (c *Console) Recent(ctx context.Context, q RecentQuery) (*Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return nil, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalidArgument, q.Limit, MaxLimit)
	}
	platform, action := "*", "*"
	if q.Platform != "" {
		platform = event.Token(q.Platform)
	}
	if q.Action != "" {
		action = event.ActionToken(q.Action)
	}
	var events []Event
	s := scan{
		stream:  bus.EventsStream,
		filters: []string{fmt.Sprintf("%s.%s.%s.*", event.SubjectPrefix, platform, action)},
		since:   q.Since, max: c.maxScan,
		enough: func() bool { return len(events) >= q.Limit },
	}
	res, err := newest(ctx, c.js, s, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if ev, ok := decodeEvent(m, md); ok && (q.Platform == "" || ev.Platform == q.Platform) && (q.Action == "" || ev.Action == q.Action) {
			events = append(events, ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(events, func(a, b Event) int { return -cmpSeq(a.Seq, b.Seq) })
	if len(events) > q.Limit {
		events = events[:q.Limit]
	}
	page := &Page{Scanned: res.Scanned, Truncated: res.Truncated}
	if len(events) == 0 {
		page.Entries = []Entry{}
		return page, nil
	}

	// The records of these events were all written after the oldest of
	// them was stored.
	ids := make(map[string]bool, len(events))
	oldest := events[0].StoredAt
	for _, ev := range events {
		ids[ev.ID] = true
		if ev.StoredAt.Before(oldest) {
			oldest = ev.StoredAt
		}
	}
	var recs []audit.Record
	ares, err := newest(ctx, c.js, scan{stream: bus.AuditStream, since: oldest.Add(-clockSlack), max: c.maxScan},
		func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
			var r audit.Record
			if json.Unmarshal(m.Data(), &r) == nil && ids[r.EventID] {
				recs = append(recs, r)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	page.Scanned += ares.Scanned
	page.Truncated = page.Truncated || ares.Truncated
	dls, err := c.deadLettersOf(ctx, func(dl *dlq.DeadLetter) bool { return ids[dl.ID] })
	if err != nil {
		return nil, err
	}
	page.Entries = join(events, recs, dls)
	slices.SortStableFunc(page.Entries, func(a, b Entry) int { return -cmpEntry(a, b) })
	page.Count = len(page.Entries)
	return page, nil
}

// TimelineQuery selects a chat. Platform "" looks the chat up on every
// platform; Since bounds how far back (zero: everything stored).
type TimelineQuery struct {
	ChatID   string
	Platform string
	Since    time.Time
}

// Timeline is a chat's history, oldest first.
type Timeline struct {
	ChatID   string `json:"chat_id"`
	Platform string `json:"platform,omitempty"`
	Page
}

// Timeline returns the events stored for a chat with their decisions and
// dead letters, and the decisions whose events are no longer stored, oldest
// first. Events are read from the chat's partition only.
func (c *Console) Timeline(ctx context.Context, q TimelineQuery) (*Timeline, error) {
	q.ChatID = strings.TrimSpace(q.ChatID)
	if q.ChatID == "" {
		return nil, fmt.Errorf("%w: a chat id is required", ErrInvalidArgument)
	}
	platforms := Platforms
	if q.Platform != "" {
		if !slices.Contains(Platforms, q.Platform) {
			return nil, fmt.Errorf("%w: platform %q: want one of %s", ErrInvalidArgument, q.Platform, strings.Join(Platforms, ", "))
		}
		platforms = []string{q.Platform}
	}
	filters := make([]string, len(platforms))
	for i, p := range platforms {
		filters[i] = fmt.Sprintf("%s.%s.*.%d", event.SubjectPrefix, event.Token(p), event.Partition(p, q.ChatID, c.partitions))
	}
	var events []Event
	res, err := newest(ctx, c.js, scan{stream: bus.EventsStream, filters: filters, since: q.Since, max: c.maxScan},
		func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
			if ev, ok := decodeEvent(m, md); ok && ev.ChatID == q.ChatID && slices.Contains(platforms, ev.Platform) {
				events = append(events, ev)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	aq := audit.Query{Platform: q.Platform, ChatID: q.ChatID}
	if !q.Since.IsZero() {
		aq.Since = q.Since.Add(-clockSlack)
	}
	all, err := audit.Read(ctx, c.js, aq)
	if err != nil {
		return nil, err
	}
	recs := all[:0]
	for _, r := range all {
		if r.ChatID == q.ChatID && slices.Contains(platforms, r.Platform) {
			recs = append(recs, r)
		}
	}
	dls, err := c.deadLettersOf(ctx, func(dl *dlq.DeadLetter) bool {
		return dl.ChatID == q.ChatID && slices.Contains(platforms, dl.Platform) && (q.Since.IsZero() || !dl.FailedAt.Before(q.Since))
	})
	if err != nil {
		return nil, err
	}
	t := &Timeline{ChatID: q.ChatID, Platform: q.Platform, Page: Page{Scanned: res.Scanned + len(all), Truncated: res.Truncated}}
	t.Entries = join(events, recs, dls)
	slices.SortStableFunc(t.Entries, cmpEntry)
	t.Count = len(t.Entries)
	return t, nil
}

// deadLettersOf lists the dead letters keep selects (none without a lister).
func (c *Console) deadLettersOf(ctx context.Context, keep func(*dlq.DeadLetter) bool) ([]dlq.DeadLetter, error) {
	if c.deadLetters == nil {
		return nil, nil
	}
	all, err := c.deadLetters.List(ctx, dlq.Filter{})
	if errors.Is(err, dlq.ErrNoStream) {
		return nil, fmt.Errorf("%w: %w", ErrNoStream, err)
	}
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for i := range all {
		if keep(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// join groups events, records and dead letters by event id. Records and
// dead letters of events not in events get entries without an event.
func join(events []Event, recs []audit.Record, dls []dlq.DeadLetter) []Entry {
	byID := map[string]*Entry{}
	var order []string
	entry := func(id string) *Entry {
		e, ok := byID[id]
		if !ok {
			e = &Entry{EventID: id, Decisions: []audit.Record{}, DeadLetters: []DeadLetter{}}
			byID[id] = e
			order = append(order, id)
		}
		return e
	}
	for i := range events {
		ev := &events[i]
		e := entry(ev.ID)
		if e.Event == nil || ev.Seq > e.Event.Seq {
			e.Event = ev // a retried dead letter stores the event again: show the latest copy
		}
		e.Time = ev.ReceivedAt
		if e.Time.IsZero() {
			e.Time = ev.StoredAt
		}
	}
	for _, r := range recs {
		e := entry(r.EventID)
		e.Decisions = append(e.Decisions, r)
		if e.Event == nil && (e.Time.IsZero() || r.Time.Before(e.Time)) {
			e.Time = r.Time
		}
	}
	for _, dl := range dls {
		e := entry(dl.ID)
		e.DeadLetters = append(e.DeadLetters, DeadLetter{Seq: dl.Seq, Reason: dl.Reason, Cause: dl.Cause, Error: dl.Error,
			Rule: dl.Rule, Operation: dl.Operation, Attempts: dl.Attempts, FailedAt: dl.FailedAt})
		if e.Event == nil && (e.Time.IsZero() || dl.FailedAt.Before(e.Time)) {
			e.Time = dl.FailedAt
		}
	}
	out := make([]Entry, 0, len(order))
	for _, id := range order {
		e := byID[id]
		slices.SortStableFunc(e.Decisions, func(a, b audit.Record) int { return a.Time.Compare(b.Time) })
		slices.SortStableFunc(e.DeadLetters, func(a, b DeadLetter) int { return cmpSeq(a.Seq, b.Seq) })
		out = append(out, *e)
	}
	return out
}

// decodeEvent turns a message of the events stream into an Event; scheduled
// messages and messages that are not events are left out.
func decodeEvent(m jetstream.Msg, md *jetstream.MsgMetadata) (Event, bool) {
	ev, err := event.Unmarshal(m.Data())
	if err != nil {
		return Event{}, false
	}
	out := Event{
		Seq: md.Sequence.Stream, Subject: m.Subject(), StoredAt: md.Timestamp.UTC(),
		ID: ev.ID, Platform: ev.Platform, Action: ev.Action, Tenant: ev.Tenant, ChatID: ev.ChatID, ThreadID: ev.ThreadID,
		Source: ev.Source, ReceivedAt: ev.ReceivedAt, Recheck: ev.Recheck, PayloadBytes: len(ev.Payload),
	}
	if len(ev.Payload) <= maxPayload {
		out.Payload = ev.Payload
	}
	return out, true
}

func cmpEntry(a, b Entry) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	var sa, sb uint64
	if a.Event != nil {
		sa = a.Event.Seq
	}
	if b.Event != nil {
		sb = b.Event.Seq
	}
	return cmpSeq(sa, sb)
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
