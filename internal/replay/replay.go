// Package replay runs stored events through rules again: the work of
// `chatwarden replay`. Decisions are audited and idempotency records kept as
// the workers do, so an action that is not idempotent and already ran for
// an event is not repeated.
package replay

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// NoRule is the bucket of an event that no rule's on: matched (no audit
// record).
const NoRule = "no_rule"

// Buckets are the outcome buckets an event is counted in, strongest first:
// an event whose rules had several outcomes counts once, under the first of
// them here (see Bucket).
var Buckets = []string{audit.Failed, audit.Acted, audit.DryRun, audit.Scheduled, audit.Skipped, NoRule}

// Bucket is the one bucket an event counts in: failed when handling it
// failed, else the strongest outcome among its records, else NoRule. An
// outcome Buckets does not know is its own bucket.
func Bucket(outcomes []string, failed bool) string {
	if failed {
		return audit.Failed
	}
	for _, b := range Buckets {
		if slices.Contains(outcomes, b) {
			return b
		}
	}
	if len(outcomes) > 0 {
		return outcomes[0] // an outcome this summary does not know yet
	}
	return NoRule
}

// ProgressEvery is how many events pass between calls of Deps.Progress.
const ProgressEvery = 500

// Deps are what Run works with.
type Deps struct {
	// JS holds the events stream; audit records, scheduled re-checks and
	// idempotency records are written there too. Required.
	JS jetstream.JetStream
	// Partitions is the number of partitions re-checks are scheduled on.
	Partitions int
	// Rules are the rules to run. Required.
	Rules *rules.RuleSet
	// Clients are the platform clients actions call. Required.
	Clients rules.Clients
	// Platforms are the platforms' engine hooks (error classification,
	// enrichment); default platform.Hooks(), the registered platforms'.
	Platforms map[string]rules.PlatformHooks
	// Done keeps the idempotency records shared with the workers. Required.
	Done rules.DoneStore
	// MaxPendingRechecks caps scheduled re-checks (workers.max_pending_rechecks).
	MaxPendingRechecks int
	// Logger receives the engine's log lines. Default: none.
	Logger *zap.Logger
	// Progress, when not nil, is called every ProgressEvery events with
	// the number replayed so far.
	Progress func(events int)
}

// Params select the events and how to run them.
type Params struct {
	// Since: events stored at or after this time.
	Since time.Time
	// Chat, when not "", replays only this chat's events.
	Chat string
	// DryRun records what the rules would do (audited as dry_run) and calls
	// no API; delayed rules record their re-check instead of scheduling it.
	DryRun bool
}

// Result counts a replay.
type Result struct {
	// Events is the number of events replayed; Failed those whose handling
	// failed.
	Events, Failed int
	// Buckets counts the events by Bucket; the counts add up to Events.
	Buckets map[string]int
	// Errors counts the failures by their error text, on one line.
	Errors map[string]int
	// Rules is the number of rules the events ran through.
	Rules int
}

// Run replays the events of the events stream stored since p.Since (re-check
// events excepted) through d.Rules, in stream order, in this goroutine. It
// stops at the first error reading the stream, or when ctx ends, returning
// the counts so far.
func Run(ctx context.Context, d Deps, p Params) (Result, error) {
	logger := d.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	if d.Platforms == nil {
		d.Platforms = platform.Hooks()
	}
	counter := &countingAuditor{next: audit.Writer{JS: d.JS}}
	engine := rules.NewEngine(d.Rules, d.Clients, counter, rules.WithLogger(logger), rules.WithDryRun(p.DryRun),
		rules.WithScheduler(rules.JetStreamScheduler{JS: d.JS, Partitions: d.Partitions, MaxPending: d.MaxPendingRechecks}),
		rules.WithDoneStore(d.Done), rules.WithPlatforms(d.Platforms))

	res := Result{Buckets: map[string]int{}, Errors: map[string]int{}, Rules: engine.Rules().Len()}
	start := p.Since
	err := bus.ReadAll(ctx, d.JS, bus.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{event.SubjectPrefix + ".>"}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	}, func(m jetstream.Msg) error {
		ev, err := event.Unmarshal(m.Data())
		if err != nil || ev.Source == event.SourceRecheck || (p.Chat != "" && ev.ChatID != p.Chat) {
			return nil
		}
		res.Events++
		herr := engine.Handle(ctx, ev)
		if herr != nil {
			res.Failed++
			res.Errors[strings.Join(strings.Fields(herr.Error()), " ")]++
		}
		res.Buckets[Bucket(counter.take(), herr != nil)]++
		if d.Progress != nil && res.Events%ProgressEvery == 0 {
			d.Progress(res.Events)
		}
		return ctx.Err()
	})
	return res, err
}

// countingAuditor stores records and notes the outcomes of the event being
// replayed, so that each event lands in exactly one bucket of the summary.
type countingAuditor struct {
	next    rules.Auditor
	current []string
}

func (c *countingAuditor) Write(ctx context.Context, rec audit.Record) error {
	if err := c.next.Write(ctx, rec); err != nil {
		return err
	}
	c.current = append(c.current, rec.Outcome)
	return nil
}

// take returns the outcomes recorded since the last take and forgets them.
func (c *countingAuditor) take() []string {
	out := c.current
	c.current = nil
	return out
}
