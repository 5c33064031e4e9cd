// Package rules holds chatwarden's policies. For now it has one, written in
// Go: unpin abandoned Unassigned LiveChat chats. The rules engine (YAML rules
// with expressions) will replace its wiring, not its behaviour.
package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/metrics"
)

// Names used in audit records, dead letters and metrics.
const (
	UnpinRule = "unpin-abandoned-unassigned"
	OpUnpin   = "livechat.unpin"
)

// unpinParams are the properties the unpin action writes.
var unpinParams = livechat.Properties{"routing": {"pinned": false}}

// ChatActions is what the unpin policy needs from a LiveChat client.
type ChatActions interface {
	GetChat(ctx context.Context, chatID, threadID string) (*livechat.Chat, error)
	UpdateChatProperties(ctx context.Context, chatID string, props livechat.Properties) error
}

// ClientFor returns the client that acts for a LiveChat organization
// (event.Tenant). It returns an error wrapping ErrNoCredentials when there is
// none.
type ClientFor func(tenant string) (ChatActions, error)

// Auditor stores audit records.
type Auditor interface {
	Write(ctx context.Context, rec audit.Record) error
}

// UnpinAbandoned is the first policy: when a LiveChat chat is deactivated,
// fetch it; if it is still pinned (chat-level routing.pinned) and unassigned
// (latest thread's routing.unassigned), unpin it with update_chat_properties
// {"routing":{"pinned":false}}. Every decision is audited.
//
// It is idempotent: a redelivered event re-reads the chat, finds it no longer
// pinned, and records a skip instead of unpinning twice.
type UnpinAbandoned struct {
	clients ClientFor
	audit   Auditor
	dryRun  bool
	logger  *zap.Logger
	metrics *metrics.Metrics
}

// UnpinOption configures UnpinAbandoned.
type UnpinOption func(*UnpinAbandoned)

// WithDryRun makes the policy record what it would do without calling the
// API (default false).
func WithDryRun(on bool) UnpinOption { return func(p *UnpinAbandoned) { p.dryRun = on } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *zap.Logger) UnpinOption { return func(p *UnpinAbandoned) { p.logger = l } }

// WithMetrics sets the metrics (default: a private set).
func WithMetrics(m *metrics.Metrics) UnpinOption { return func(p *UnpinAbandoned) { p.metrics = m } }

// NewUnpinAbandoned builds the policy.
func NewUnpinAbandoned(clients ClientFor, aud Auditor, opts ...UnpinOption) *UnpinAbandoned {
	p := &UnpinAbandoned{clients: clients, audit: aud, logger: zap.NewNop()}
	for _, o := range opts {
		o(p)
	}
	if p.metrics == nil {
		p.metrics = metrics.New()
	}
	p.logger = p.logger.Named("rule").With(zap.String("rule", UnpinRule))
	return p
}

var _ consumer.Handler = (*UnpinAbandoned)(nil)

// Handle implements consumer.Handler. Events other than LiveChat
// chat_deactivated are not this rule's business and succeed at once.
func (p *UnpinAbandoned) Handle(ctx context.Context, ev *event.Event) error {
	if ev.Platform != event.LiveChat || ev.Action != "chat_deactivated" || ev.ChatID == "" {
		return nil
	}
	log := p.logger.With(zap.String("event_id", ev.ID), zap.String("chat_id", ev.ChatID))
	rec := audit.Record{
		EventID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: ev.ChatID, ThreadID: ev.ThreadID,
		Rule: UnpinRule, Operation: OpUnpin,
	}
	rec.Params, _ = json.Marshal(unpinParams)

	client, err := p.clients(ev.Tenant)
	if err != nil {
		return p.fail(ctx, log, rec, consumer.Permanent("configuration", err))
	}

	start := time.Now()
	chat, err := client.GetChat(ctx, ev.ChatID, "")
	p.metrics.ActionLatency.WithLabelValues(event.LiveChat, "get_chat").Observe(time.Since(start).Seconds())
	if err != nil {
		return p.fail(ctx, log, rec, classify(ctx, fmt.Errorf("fetching chat %s: %w", ev.ChatID, err)))
	}
	switch {
	case !chat.Pinned():
		rec.Outcome, rec.Reason = audit.Skipped, "chat is not pinned"
	case !chat.Unassigned():
		rec.Outcome, rec.Reason = audit.Skipped, "chat is assigned (latest thread's routing.unassigned is not true)"
	case p.dryRun:
		rec.Outcome, rec.Reason = audit.DryRun, "chat is pinned and unassigned; dry run, not unpinned"
	}
	if rec.Outcome != "" {
		return p.record(ctx, log, rec)
	}

	start = time.Now()
	err = client.UpdateChatProperties(ctx, ev.ChatID, unpinParams)
	p.metrics.ActionLatency.WithLabelValues(event.LiveChat, "update_chat_properties").Observe(time.Since(start).Seconds())
	if err != nil {
		return p.fail(ctx, log, rec, classify(ctx, fmt.Errorf("unpinning chat %s: %w", ev.ChatID, err)))
	}
	rec.Outcome, rec.Reason = audit.Acted, "chat was pinned and unassigned after deactivation; unpinned"
	return p.record(ctx, log, rec)
}

// fail audits a failed attempt and returns err wrapped with the rule and
// action names.
func (p *UnpinAbandoned) fail(ctx context.Context, log *zap.Logger, rec audit.Record, err error) error {
	rec.Outcome, rec.Error = audit.Failed, err.Error()
	if permanent, _ := consumer.Classify(err); permanent {
		rec.Reason = "permanent failure; the event goes to the dead-letter stream"
	} else {
		rec.Reason = "retryable failure; the event will be retried"
	}
	if aerr := p.record(ctx, log, rec); aerr != nil {
		log.Error("auditing a failure failed", zap.Error(aerr))
	}
	return &consumer.ActionError{Rule: UnpinRule, Action: OpUnpin, Err: err}
}

// record stores rec, retrying briefly: the audit trail is part of the
// guarantee, so a decision that cannot be recorded makes the event retry.
func (p *UnpinAbandoned) record(ctx context.Context, log *zap.Logger, rec audit.Record) error {
	p.metrics.Actions.WithLabelValues(rec.Platform, rec.Operation, rec.Outcome).Inc()
	if rec.Outcome != audit.Failed {
		log.Info("rule decision", zap.String("outcome", rec.Outcome), zap.String("reason", rec.Reason))
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = p.audit.Write(ctx, rec); err == nil {
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

// classify maps a LiveChat error to the runner's retry policy with the one
// decision function of the livechat package. A cancelled context (shutdown)
// is always retryable.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil || livechat.IsRetryable(err) {
		after, _ := livechat.RetryAfter(err)
		return consumer.Retry(err, after)
	}
	reason := "error"
	var ae *livechat.APIError
	if errors.As(err, &ae) && ae.Type != "" {
		reason = ae.Type
	} else if errors.Is(err, ErrNoCredentials) {
		reason = "configuration"
	}
	return consumer.Permanent(reason, err)
}
