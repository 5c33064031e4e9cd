package rules

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/tracing"
)

// Auditor stores audit records.
type Auditor interface {
	Write(ctx context.Context, rec audit.Record) error
}

// Scheduler schedules the re-check of a delayed rule so that it survives
// restarts of every process (JetStream message schedules).
type Scheduler interface {
	ScheduleRecheck(ctx context.Context, recheck *event.Event, at time.Time) error
}

// DoneStore remembers non-idempotent actions that succeeded, so a
// redelivered event does not repeat them.
type DoneStore interface {
	IsDone(ctx context.Context, key string) (bool, error)
	MarkDone(ctx context.Context, key string) error
}

// Engine applies a rule set to events. It implements consumer.Handler; the
// rule set can be swapped at any time (hot reload) and each event is handled
// with the set current when it started.
//
// For each event: the rules whose `on` matches run in file order. A rule
// with `enrich` sees the chat's current state, fetched once per event however
// many rules ask. A false condition is audited as skipped. A delayed rule
// (`after`) is audited as scheduled and evaluated again, against fresh state,
// when its re-check arrives; at most one re-check per chat and rule is
// pending (with JetStreamScheduler: a later match replaces it, and a cap
// bounds them all). Otherwise each step runs: in dry run it is only
// audited; a non-idempotent step already done for this event is skipped.
// When a rule fails the others still run; the event is then retried (or
// dead-lettered when every failure is permanent).
type Engine struct {
	set      atomic.Pointer[RuleSet]
	actions  Actions
	clients  Clients
	audit    Auditor
	sched    Scheduler
	done     DoneStore
	logger   *zap.Logger
	metrics  *metrics.Metrics
	dryRun   bool
	now      func() time.Time
	handlers *Registry
	// platforms are the platforms' hooks by name (WithPlatforms).
	platforms map[string]PlatformHooks
	// carriesProperties is hasChatProperties; tests count its calls.
	carriesProperties func(*event.Event) bool
}

// EngineOption configures an Engine.
type EngineOption func(*Engine)

// WithDryRun makes every rule a dry run (default false).
func WithDryRun(on bool) EngineOption { return func(e *Engine) { e.dryRun = on } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *zap.Logger) EngineOption { return func(e *Engine) { e.logger = l } }

// WithMetrics sets the metrics (default: a private set).
func WithMetrics(m *metrics.Metrics) EngineOption { return func(e *Engine) { e.metrics = m } }

// WithScheduler sets where delayed re-checks are scheduled (required for
// rules with `after`; without one such rules fail permanently).
func WithScheduler(s Scheduler) EngineOption { return func(e *Engine) { e.sched = s } }

// WithDoneStore sets the idempotency store (default: in memory, which does
// not survive restarts; services use the JetStream one).
func WithDoneStore(d DoneStore) EngineOption { return func(e *Engine) { e.done = d } }

// WithClock sets the clock conditions see as now() (default time.Now).
func WithClock(now func() time.Time) EngineOption { return func(e *Engine) { e.now = now } }

// WithActions sets the actions Go handlers' Call.Do can run (default: the
// actions set was compiled with, so an engine runs the same actions as its
// rule file's steps; none when set is nil). A rule set
// swapped in later does not change them.
func WithActions(a Actions) EngineOption { return func(e *Engine) { e.actions = a } }

// WithHandlers sets the Go handler registry (default DefaultRegistry()).
func WithHandlers(r *Registry) EngineOption { return func(e *Engine) { e.handlers = r } }

// NewEngine builds an engine running set.
func NewEngine(set *RuleSet, clients Clients, aud Auditor, opts ...EngineOption) *Engine {
	e := &Engine{clients: clients, audit: aud, logger: zap.NewNop(), now: time.Now, carriesProperties: hasChatProperties}
	for _, o := range opts {
		o(e)
	}
	if e.actions == nil && set != nil {
		e.actions = set.actions
	}
	if e.actions == nil {
		e.actions = Actions{}
	}
	if e.handlers == nil {
		e.handlers = DefaultRegistry()
	}
	if e.metrics == nil {
		e.metrics = metrics.New()
	}
	if e.done == nil {
		e.done = NewMemoryDoneStore()
	}
	e.logger = e.logger.Named("rules")
	e.set.Store(set)
	return e
}

var _ consumer.Handler = (*Engine)(nil)

// Rules is the rule set in force.
func (e *Engine) Rules() *RuleSet { return e.set.Load() }

// Swap puts set in force for events that start after it returns.
func (e *Engine) Swap(set *RuleSet) { e.set.Store(set) }

// Actions is the engine's action set.
func (e *Engine) Actions() Actions { return e.actions }

// Handlers is the engine's Go handler registry.
func (e *Engine) Handlers() *Registry { return e.handlers }

// evaluation holds what is computed once per event.
type evaluation struct {
	ev       *event.Event
	now      time.Time
	eventEnv EventEnv
	base     *ChatEnv // from the webhook's own data
	enriched *ChatEnv // fetched from the API
	fetchErr error
	fetched  bool
	// props: whether the webhook carries the chat's properties, once
	// propsKnown (asked once per event, not per rule).
	props, propsKnown bool
}

// eventCarriesProperties reports whether the event carries the chat's current
// properties, reading its additional data at most once per event however
// many rules with enrich: properties ask.
func (e *Engine) eventCarriesProperties(st *evaluation) bool {
	if !st.propsKnown {
		st.props, st.propsKnown = e.carriesProperties(st.ev), true
	}
	return st.props
}

// Handle implements consumer.Handler.
func (e *Engine) Handle(ctx context.Context, ev *event.Event) error {
	set := e.set.Load()
	var rules []*compiled
	if ev.Recheck != nil {
		r, ok := set.byName[ev.Recheck.Rule]
		if !ok {
			return e.record(ctx, audit.Record{
				EventID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: ev.ChatID, ThreadID: ev.ThreadID,
				Rule: ev.Recheck.Rule, Outcome: audit.Skipped,
				Reason: "re-check of a rule that is no longer in the rule file",
			})
		}
		rules = []*compiled{r}
	} else {
		for _, r := range set.rules {
			if r.matches(ev) {
				rules = append(rules, r)
			}
		}
	}
	if len(rules) == 0 {
		return nil
	}
	now := e.now()
	st := &evaluation{ev: ev, now: now, eventEnv: newEventEnv(ev, now, set.needsPayload)}
	ctx, sent := e.collectRecords(ctx)
	var errs []error
	for _, r := range rules {
		if err := e.apply(ctx, r, st); err != nil {
			errs = append(errs, err)
		}
	}
	// Handle returns (and the event is acknowledged) only once every
	// decision about it is stored.
	if err := e.awaitRecords(ctx, sent); err != nil {
		errs = append(errs, err)
	}
	return worst(errs)
}

// worst combines rule failures: retryable (with the longest hint) if any is,
// else permanent.
func worst(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	retry, hint := false, time.Duration(0)
	for _, err := range errs {
		if permanent, h := consumer.Classify(err); !permanent {
			retry, hint = true, max(hint, h)
		}
	}
	if retry {
		return consumer.Retry(errors.Join(errs...), hint)
	}
	return consumer.Permanent("several rules failed", errors.Join(errs...))
}

// chat returns the chat as the rule wants it: enriched (fetched once per
// event) or from the webhook itself.
func (e *Engine) chat(ctx context.Context, enrich string, st *evaluation) (ChatEnv, error) {
	ev := st.ev
	hooks := e.platforms[ev.Platform]
	wantFetch := enrich == "chat" || (enrich == "properties" && !e.eventCarriesProperties(st))
	if wantFetch && hooks.Enrich != nil && ev.ChatID != "" {
		if !st.fetched {
			st.fetched = true
			start := time.Now()
			env, err := hooks.Enrich(ctx, e.clients, ev, st.now)
			e.metrics.ActionLatency.WithLabelValues(event.PlatformLabel(ev.Platform), cmp.Or(hooks.EnrichCall, "enrich")).Observe(time.Since(start).Seconds())
			if err != nil {
				st.fetchErr = err
			} else {
				env.Enriched = true
				st.enriched = &env
			}
		}
		if st.fetchErr != nil {
			return ChatEnv{}, st.fetchErr
		}
		return *st.enriched, nil
	}
	if st.base == nil {
		env := ChatEnv{ID: ev.ChatID, ThreadID: ev.ThreadID}
		if hooks.Chat != nil {
			env = hooks.Chat(ev, st.now)
		}
		st.base = &env
	}
	return *st.base, nil
}

// hasChatProperties reports whether the webhook carries the chat's current
// properties (additional_data.chat_properties, not empty).
func hasChatProperties(ev *event.Event) bool {
	var ad struct {
		ChatProperties json.RawMessage `json:"chat_properties"`
	}
	return len(ev.AdditionalData) > 0 && json.Unmarshal(ev.AdditionalData, &ad) == nil && len(ad.ChatProperties) > 2
}

func (e *Engine) apply(ctx context.Context, r *compiled, st *evaluation) (err error) {
	span := trace.SpanFromContext(ctx) // a no-op one when tracing is off
	if tracing.Enabled() {
		ctx, span = tracing.Tracer().Start(ctx, "rule "+r.spec.Name, trace.WithAttributes(attribute.String("chatwarden.rule", r.spec.Name)))
	}
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	ev := st.ev
	base := audit.Record{EventID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: ev.ChatID, ThreadID: ev.ThreadID, Rule: r.spec.Name}
	chat, err := ChatEnv{ID: ev.ChatID, ThreadID: ev.ThreadID}, error(nil)
	if r.needsChat || ev.ChatID == "" || ev.ThreadID == "" {
		chat, err = e.chat(ctx, r.spec.Enrich, st)
	}
	if err != nil {
		rec := base
		rec.Outcome, rec.Error, rec.Reason = audit.Failed, err.Error(), "could not fetch the chat's current state"
		e.auditFailure(ctx, rec)
		return &consumer.ActionError{Rule: r.spec.Name, Action: "enrich", Err: err}
	}
	env := &Env{Event: st.eventEnv, Chat: chat, Now: func() time.Time { return st.now }}
	ok, err := r.eval(env)
	if err != nil {
		rec := base
		rec.Outcome, rec.Error, rec.Reason = audit.Failed, err.Error(), "the condition failed to evaluate"
		e.auditFailure(ctx, rec)
		return &consumer.ActionError{Rule: r.spec.Name, Action: "if", Err: consumer.Permanent("expression", err)}
	}
	if !ok {
		rec := base
		rec.Outcome, rec.Reason = audit.Skipped, "condition is false: "+r.spec.If
		return e.record(ctx, rec)
	}
	if r.spec.After > 0 && ev.Recheck == nil {
		return e.schedule(ctx, r, st, base)
	}
	c := &Call{Event: ev, Chat: chat, Rule: r.spec.Name, engine: e, dryRun: e.dryRun || r.spec.DryRun}
	var errs []error
	for _, s := range r.steps {
		if err := e.runStep(ctx, c, s); err != nil {
			errs = append(errs, err)
			break // later steps of a rule may depend on earlier ones
		}
	}
	return worst(errs)
}

// schedule arranges the re-check of a delayed rule at received_at + after.
// When the scheduler refuses it for being over its cap (ErrTooManyRechecks)
// the match is audited as skipped, with the reason, and not retried.
func (e *Engine) schedule(ctx context.Context, r *compiled, st *evaluation, rec audit.Record) error {
	ev := st.ev
	due := ev.ReceivedAt.Add(r.spec.After)
	if ev.ReceivedAt.IsZero() {
		due = st.now.Add(r.spec.After)
	}
	re := *ev
	re.ID = event.ContentID([]byte(ev.ID), []byte(r.spec.Name), []byte("recheck"))
	re.Source = event.SourceRecheck
	re.Recheck = &event.Recheck{Rule: r.spec.Name, OriginID: ev.ID, DueAt: due}
	if e.sched == nil {
		err := consumer.Permanent("configuration", errors.New("a delayed rule (after) needs a scheduler"))
		rec.Outcome, rec.Error = audit.Failed, err.Error()
		e.auditFailure(ctx, rec)
		return &consumer.ActionError{Rule: r.spec.Name, Action: "schedule", Err: err}
	}
	at := due
	if at.Before(st.now) {
		at = st.now.Add(time.Second)
	}
	err := e.sched.ScheduleRecheck(ctx, &re, at)
	if errors.Is(err, ErrTooManyRechecks) {
		// Retrying would not help while the re-checks pending stay: the
		// rule gives up on this match, in the audit and the log.
		e.logger.Warn("delayed rule not scheduled: too many re-checks pending; raise workers.max_pending_rechecks or check the rule's `on`",
			zap.String("rule", r.spec.Name), zap.String("event_id", ev.ID), zap.String("chat_id", ev.ChatID), zap.Error(err))
		rec.Outcome = audit.Skipped
		rec.Reason = "condition holds, but the re-check was not scheduled: " + err.Error()
		return e.record(ctx, rec)
	}
	if err != nil {
		err = consumer.Retry(fmt.Errorf("scheduling re-check of rule %s: %w", r.spec.Name, err), 0)
		rec.Outcome, rec.Error = audit.Failed, err.Error()
		e.auditFailure(ctx, rec)
		return &consumer.ActionError{Rule: r.spec.Name, Action: "schedule", Err: err}
	}
	rec.Outcome = audit.Scheduled
	rec.Reason = fmt.Sprintf("condition holds; re-check at %s (after %s), acting only if it still holds then", due.UTC().Format(time.RFC3339), r.spec.After)
	return e.record(ctx, rec)
}

// runStep runs one action or Go handler of a rule, with audit, dry run and
// idempotency.
func (e *Engine) runStep(ctx context.Context, c *Call, s step) error {
	ev := c.Event
	if s.goRule != nil {
		sub := *c
		sub.stepKey, sub.doCount = s.key, 0
		if err := s.goRule.Apply(ctx, &sub); err != nil {
			var ae *consumer.ActionError
			if errors.As(err, &ae) {
				return err
			}
			rec := audit.Record{EventID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: ev.ChatID, ThreadID: ev.ThreadID,
				Rule: c.Rule, Operation: "go:" + s.goName, Outcome: audit.Failed, Error: err.Error()}
			e.auditFailure(ctx, rec)
			return &consumer.ActionError{Rule: c.Rule, Action: "go:" + s.goName, Err: err}
		}
		return nil
	}
	rec := audit.Record{EventID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: ev.ChatID, ThreadID: ev.ThreadID,
		Rule: c.Rule, Operation: s.action.Name}
	rec.Params, _ = json.Marshal(s.prepared.params)
	if c.dryRun {
		rec.Outcome, rec.Reason = audit.DryRun, "condition holds; dry run, not performed"
		return e.record(ctx, rec)
	}
	key := ev.ID + "/" + s.key
	if !s.action.Idempotent {
		done, err := e.done.IsDone(ctx, key)
		if err != nil {
			return &consumer.ActionError{Rule: c.Rule, Action: s.action.Name, Err: consumer.Retry(fmt.Errorf("checking whether %s already ran: %w", s.action.Name, err), 0)}
		}
		if done {
			rec.Outcome, rec.Reason = audit.Skipped, "already performed for this event (redelivery); not repeated"
			return e.record(ctx, rec)
		}
	}
	ac := *c
	ac.actionKey = key
	if check := s.performedCheck(); !s.action.Idempotent && check != nil && consumer.Attempt(ctx) > 1 {
		performed, err := check(ctx, &ac)
		if err != nil {
			err = e.classifyFor(ctx, s.action.Name, err)
			if permanent, _ := consumer.Classify(err); !permanent && !isClassified(err) {
				err = consumer.Retry(err, 0)
			}
			return &consumer.ActionError{Rule: c.Rule, Action: s.action.Name, Err: fmt.Errorf("checking whether %s already took effect: %w", s.action.Name, err)}
		}
		if performed {
			if err := e.done.MarkDone(ctx, key); err != nil {
				e.logger.Warn("recording an action found performed failed", zap.String("rule", c.Rule), zap.String("action", s.action.Name), zap.Error(err))
			}
			rec.Outcome, rec.Reason = audit.Skipped, "already performed for this event (found on the platform; the worker that did it stopped before recording it); not repeated"
			return e.record(ctx, rec)
		}
	}
	start := time.Now()
	err := e.classifyFor(ctx, s.action.Name, s.prepared.run(ctx, &ac))
	e.metrics.ActionLatency.WithLabelValues(event.PlatformLabel(ev.Platform), s.action.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		if permanent, _ := consumer.Classify(err); !permanent && !isClassified(err) && ctx.Err() == nil {
			err = consumer.Retry(err, 0)
		}
		rec.Outcome, rec.Error = audit.Failed, err.Error()
		if permanent, _ := consumer.Classify(err); permanent {
			rec.Reason = "permanent failure; the event goes to the dead-letter stream"
		} else if _, waits := errors.AsType[consumer.Waiter](err); waits {
			rec.Reason = "platform unavailable (circuit breaker open); the event waits for it, its attempts not spent"
		} else {
			rec.Reason = "retryable failure; the event will be retried"
		}
		e.auditFailure(ctx, rec)
		return &consumer.ActionError{Rule: c.Rule, Action: s.action.Name, Err: err}
	}
	if !s.action.Idempotent {
		if err := e.done.MarkDone(ctx, key); err != nil {
			e.logger.Error("recording a performed action failed; a redelivery could repeat it",
				zap.String("rule", c.Rule), zap.String("action", s.action.Name), zap.String("event_id", ev.ID), zap.Error(err))
		}
	}
	if ev.Source == event.SourceWebhook && !ev.ReceivedAt.IsZero() {
		e.metrics.WebhookToAction.WithLabelValues(event.PlatformLabel(ev.Platform)).Observe(e.now().Sub(ev.ReceivedAt).Seconds())
	}
	rec.Outcome, rec.Reason = audit.Acted, "condition holds; performed"
	return e.record(ctx, rec)
}

func isClassified(err error) bool {
	var pe *consumer.PermanentError
	var re *consumer.RetryableError
	return errors.As(err, &pe) || errors.As(err, &re)
}
