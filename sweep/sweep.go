// Package sweep holds chatwarden's backlog producers. A sweep finds chats
// through a platform's API and publishes one event per chat into the events
// stream, so the workers apply the same rules, rate limits, audit, retries
// and dead letters to the backlog as to live webhooks.
//
// One kind exists: KindLiveChatUnassigned lists LiveChat chats that are
// Unassigned (list_archives filtered on routing.unassigned and
// routing.pinned, as in LiveChat's own guide "Closing Unassigned chats with
// API") and publishes a livechat.sweep_unassigned event per chat; the
// built-in rule BuiltinRuleName unpins each one that is still pinned,
// unassigned and old enough when a worker re-checks it. Other platforms'
// sweeps are other kinds with their own Find; Publish, the Tracker, the
// schedule and the CLI shape (`chatwarden sweep <kind>`) are shared.
//
// Guarantees:
//   - Every event's id is derived from the chat and its thread (never from
//     the time of the run), and doubles as the JetStream Nats-Msg-Id: running
//     a sweep again, also after an interruption, stores no second event for a
//     chat whose event is still in the stream's duplicate window, and chats
//     already unpinned are no longer listed. The built-in rule re-checks the
//     chat before it acts, so an event handled twice unpins at most once.
//   - Find lists everything before anything is published (see Find).
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
)

// Kinds of sweeps.
const (
	// KindLiveChatUnassigned finds LiveChat chats that are Unassigned:
	// routing.unassigned and routing.pinned are true.
	KindLiveChatUnassigned = "livechat-unassigned"
)

// Kinds lists the sweeps this package implements.
func Kinds() []string { return []string{KindLiveChatUnassigned} }

// Event actions of sweeps (event.Event.Action; rules say
// `on: [livechat.sweep_unassigned]`).
const (
	// ActionUnassigned is the action of the event published for each chat a
	// KindLiveChatUnassigned sweep finds.
	ActionUnassigned = "sweep_unassigned"
	// ActionTick is the action of the event a sweep schedule sends the
	// workers when a scheduled sweep is due (see Ticks).
	ActionTick = "sweep_tick"
)

// Triggers say what started a sweep (Info.Trigger).
const (
	TriggerCommand  = "command"  // chatwarden sweep
	TriggerSchedule = "schedule" // sweep.schedule
)

// PageSize is how many rows a list_archives page asks for (the API's
// maximum).
const PageSize = 100

// Params select the chats of a sweep.
type Params struct {
	// Kind is the sweep, e.g. KindLiveChatUnassigned.
	Kind string `json:"kind"`
	// OlderThan selects chats whose thread started at least this long ago;
	// 0 selects any age.
	OlderThan time.Duration `json:"older_than"`
	// Groups selects chats of these groups only; empty: every group.
	Groups []int `json:"groups,omitempty"`
	// Limit caps the chats, oldest first; 0: no cap.
	Limit int `json:"limit,omitempty"`
	// Tenant is the LiveChat organization the chats belong to; it selects
	// the credentials the workers act with ("" the default ones).
	Tenant string `json:"tenant,omitempty"`
}

// Check reports what is wrong with p.
func (p Params) Check() error {
	var errs []error
	if !slices.Contains(Kinds(), p.Kind) {
		errs = append(errs, fmt.Errorf("%w %q (known: %s)", ErrUnknownKind, p.Kind, strings.Join(Kinds(), ", ")))
	}
	if p.OlderThan < 0 {
		errs = append(errs, fmt.Errorf("older than must not be negative, got %s", p.OlderThan))
	}
	if p.Limit < 0 {
		errs = append(errs, fmt.Errorf("limit must not be negative, got %d", p.Limit))
	}
	for _, g := range p.Groups {
		if g < 0 {
			errs = append(errs, fmt.Errorf("group ids are 0 or more, got %d", g))
		}
	}
	return errors.Join(errs...)
}

// Chat is one chat a sweep found.
type Chat struct {
	ID       string `json:"id"`
	ThreadID string `json:"thread_id"` // the newest matching thread
	GroupIDs []int  `json:"group_ids,omitempty"`
	// StartedAt is when the thread started; LastMessageAt when its last
	// message (or file) was sent, zero when it has none.
	StartedAt     time.Time `json:"started_at"`
	LastMessageAt time.Time `json:"last_message_at,omitzero"`
	// Row is the list_archives row of the thread, without the thread's
	// events (to keep stored events small).
	Row livechat.Chat `json:"row"`
}

// Age is how long ago the thread started, at now.
func (c Chat) Age(now time.Time) time.Duration {
	if c.StartedAt.IsZero() {
		return 0
	}
	return now.Sub(c.StartedAt)
}

// Info describes the sweep an event came from, in its payload
// (event.payload.sweep in conditions).
type Info struct {
	Kind string `json:"kind"`
	// OlderThan is the sweep's minimum age as Go duration text ("48h0m0s"),
	// so a condition can say duration(event.payload.sweep.older_than).
	OlderThan string    `json:"older_than"`
	Groups    []int     `json:"groups,omitempty"`
	Trigger   string    `json:"trigger"`
	StartedAt time.Time `json:"started_at"`
}

// Payload is the payload of a sweep event.
type Payload struct {
	Sweep Info `json:"sweep"`
	// Chat is the chat's list_archives row as the sweep saw it (without
	// thread events); the built-in rule fetches the current state anyway.
	Chat          livechat.Chat `json:"chat"`
	LastMessageAt time.Time     `json:"last_message_at,omitzero"`
}

// EventID is the id of the sweep event of chat c of tenant: derived from
// the platform, the action, the organization, the chat and its thread, so
// every run finds the same id for the same Unassigned thread.
func EventID(tenant string, c Chat) string {
	return event.ContentID([]byte(event.LiveChat), []byte(ActionUnassigned), []byte(tenant),
		[]byte(c.ID), []byte(c.ThreadID))
}

// NewEvent builds the event of chat c found by a sweep with p, started at
// startedAt by trigger.
func NewEvent(c Chat, p Params, trigger string, startedAt, now time.Time) (*event.Event, error) {
	payload, err := json.Marshal(Payload{
		Sweep: Info{Kind: p.Kind, OlderThan: p.OlderThan.String(), Groups: p.Groups, Trigger: trigger, StartedAt: startedAt.UTC()},
		Chat:  c.Row, LastMessageAt: c.LastMessageAt,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the sweep event of chat %s: %w", c.ID, err)
	}
	return &event.Event{
		ID: EventID(p.Tenant, c), Platform: event.LiveChat, Action: ActionUnassigned, Tenant: p.Tenant,
		ChatID: c.ID, ThreadID: c.ThreadID, Source: event.SourceSweep, ReceivedAt: now.UTC(), Payload: payload,
	}, nil
}

// Lister is what a LiveChat sweep needs from the API: *livechat.Client.
type Lister interface {
	ListArchivesPage(ctx context.Context, q livechat.ListArchivesQuery, pageID string) (*livechat.ArchivesPage, error)
}

// Publisher stores events in the events stream: *bus.Bus. duplicate is true
// when the stream already held the event (its id) within its duplicate
// window.
type Publisher interface {
	Publish(ctx context.Context, ev *event.Event) (duplicate bool, err error)
}

// Sweeper finds chats and publishes their events. Build it with New; it is
// safe for concurrent use.
type Sweeper struct {
	api       Lister
	pub       Publisher
	logger    *zap.Logger
	maxRate   float64
	now       func() time.Time
	retries   int
	retryBase time.Duration
}

// Option configures a Sweeper.
type Option func(*Sweeper) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *zap.Logger) Option {
	return func(s *Sweeper) error {
		if l != nil {
			s.logger = l
		}
		return nil
	}
}

// WithMaxRate caps the events published per second (default 0: no cap).
// Each event costs the workers API calls; the cap leaves room for live
// traffic.
func WithMaxRate(r float64) Option {
	return func(s *Sweeper) error {
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("sweep: max rate must be 0 (no cap) or positive, got %v", r)
		}
		s.maxRate = r
		return nil
	}
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Sweeper) error {
		if now != nil {
			s.now = now
		}
		return nil
	}
}

// WithListRetries sets how often a list_archives page that failed with a
// retryable error (429, 5xx, timeout) is tried again, and the first delay
// (doubling, or the API's Retry-After when longer). Default 5 times from 1s.
func WithListRetries(n int, base time.Duration) Option {
	return func(s *Sweeper) error {
		if n < 0 || base <= 0 {
			return fmt.Errorf("sweep: list retries must be 0 or more with a positive delay, got %d, %s", n, base)
		}
		s.retries, s.retryBase = n, base
		return nil
	}
}

// New returns a sweeper that lists with api and publishes with pub (pub may
// be nil for a sweeper that only finds, as a dry run does).
func New(api Lister, pub Publisher, opts ...Option) (*Sweeper, error) {
	if api == nil {
		return nil, errors.New("sweep: a LiveChat client is required")
	}
	s := &Sweeper{api: api, pub: pub, logger: zap.NewNop(), now: time.Now, retries: 5, retryBase: time.Second}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.logger = s.logger.Named("sweep")
	return s, nil
}

// ListProgress reports the listing: pages fetched, rows seen, distinct
// chats kept.
type ListProgress struct {
	Pages, Rows, Chats int
}

// Find lists the chats of p, oldest first, one per chat (list_archives
// answers one row per thread: the newest matching thread of a chat is
// kept), at most p.Limit.
//
// It pages through list_archives (PageSize rows a page, following page_id)
// to the end BEFORE anything is published. The workers unpin the chats they
// are given, and an unpinned chat leaves the filtered result set: paging
// while that happens could skip chats if LiveChat's page ids count rows
// (the API does not document how they work). Collecting every id first
// keeps the listing consistent; the alternative, re-querying the first page
// until it comes back empty, would need to wait for the workers between
// pages and would loop on a chat the rule decides not to unpin. Memory is
// small (a few hundred bytes per chat).
//
// A page that fails with a retryable error is fetched again (see
// WithListRetries). onPage, when not nil, is called after every page.
func (s *Sweeper) Find(ctx context.Context, p Params, onPage func(ListProgress)) ([]Chat, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	q := livechat.ListArchivesQuery{
		Filters: livechat.ArchivesFilters{
			GroupIDs: p.Groups,
			Properties: livechat.PropertyFilters{livechat.NSRouting: {
				livechat.PropUnassigned: livechat.Values(true),
				livechat.PropPinned:     livechat.Values(true),
			}},
		},
		Limit:     PageSize,
		SortOrder: livechat.SortAsc,
	}
	if p.OlderThan > 0 {
		q.Filters.To = s.now().Add(-p.OlderThan)
	}
	var (
		chats []Chat
		index = map[string]int{}
		prog  ListProgress
		page  = ""
	)
	for {
		res, err := s.listPage(ctx, q, page)
		if err != nil {
			return chats, fmt.Errorf("listing Unassigned chats (page %d): %w", prog.Pages+1, err)
		}
		prog.Pages++
		for _, row := range res.Chats {
			prog.Rows++
			c := chatOf(row)
			if c.ID == "" {
				continue
			}
			if i, seen := index[c.ID]; seen {
				if c.StartedAt.After(chats[i].StartedAt) {
					chats[i] = c
				}
				continue
			}
			if p.Limit > 0 && len(chats) >= p.Limit {
				continue
			}
			index[c.ID] = len(chats)
			chats = append(chats, c)
		}
		prog.Chats = len(chats)
		if onPage != nil {
			onPage(prog)
		}
		if res.NextPageID == "" || (p.Limit > 0 && len(chats) >= p.Limit) {
			break
		}
		if res.NextPageID == page {
			return chats, fmt.Errorf("listing Unassigned chats: the API returned page id %q twice", page)
		}
		page = res.NextPageID
	}
	slices.SortStableFunc(chats, func(a, b Chat) int { return a.StartedAt.Compare(b.StartedAt) })
	return chats, nil
}

// listPage fetches one page, trying a retryable failure again.
func (s *Sweeper) listPage(ctx context.Context, q livechat.ListArchivesQuery, page string) (*livechat.ArchivesPage, error) {
	delay := s.retryBase
	for attempt := 0; ; attempt++ {
		res, err := s.api.ListArchivesPage(ctx, q, page)
		if err == nil {
			return res, nil
		}
		if attempt >= s.retries || !livechat.IsRetryable(err) || ctx.Err() != nil {
			return nil, err
		}
		wait := delay
		if hint, ok := livechat.RetryAfter(err); ok && hint > wait {
			wait = hint
		}
		s.logger.Info("listing failed; trying the page again", zap.Duration("in", wait), zap.Int("attempt", attempt+1), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// chatOf describes a list_archives row.
func chatOf(row livechat.Chat) Chat {
	c := Chat{ID: row.ID, GroupIDs: row.GroupIDs(), Row: row}
	if t := row.Thread; t != nil {
		c.ThreadID = t.ID
		c.StartedAt = t.CreatedAt
		for _, e := range t.Events {
			switch e.Type {
			case "message", "file", "rich_message":
				if e.CreatedAt.After(c.LastMessageAt) {
					c.LastMessageAt = e.CreatedAt
				}
			}
			if c.StartedAt.IsZero() || (!e.CreatedAt.IsZero() && e.CreatedAt.Before(c.StartedAt)) {
				c.StartedAt = e.CreatedAt
			}
		}
		th := *t
		th.Events = nil
		c.Row.Thread = &th
	}
	return c
}
