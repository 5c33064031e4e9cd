package sweep

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// BuiltinRuleName is the name of the built-in rule of swept chats, in audit
// records and dead letters.
const BuiltinRuleName = "sweep-unpin-unassigned"

// BuiltinRulesSource names BuiltinRules in listings and errors.
const BuiltinRulesSource = "built-in sweep rule"

// BuiltinRules is the rule file of the built-in rule: it unpins a swept chat
// when the chat, fetched again when a worker handles the event, is still
// pinned and unassigned and its thread is at least as old as the sweep
// asked for. The sweep found the chat that way, but an agent may have taken
// it, or the customer written again, since.
const BuiltinRules = `rules:
  - name: ` + BuiltinRuleName + `
    description: Unpin a chat found by the backlog sweep if it is still pinned, unassigned and old enough.
    on: [livechat.` + ActionUnassigned + `]
    enrich: chat
    if: chat.pinned && chat.unassigned && chat.age >= duration(event.payload.sweep.older_than)
    then:
      - livechat.unpin: {}
`

// BuiltinRuleSet compiles BuiltinRules with actions (when nil,
// platform.Actions(): those of the registered platforms, which must include
// LiveChat's).
func BuiltinRuleSet(actions rules.Actions) (*rules.RuleSet, error) {
	if actions == nil {
		actions = platform.Actions()
	}
	return rules.LoadBytes([]byte(BuiltinRules), BuiltinRulesSource, actions, rules.NewRegistry())
}

// Overrides reports whether set has its own rule for swept chats, which then
// replaces the built-in one: a rule whose `on` names livechat.sweep_unassigned
// itself, or a rule named BuiltinRuleName. A `livechat.*` rule does not
// count: it was written for webhooks in general, and runs on swept chats
// besides the built-in rule.
func Overrides(set *rules.RuleSet) bool {
	if set == nil {
		return false
	}
	for _, r := range set.Rules() {
		if r.Name == BuiltinRuleName || slices.Contains(r.On, event.LiveChat+"."+ActionUnassigned) {
			return true
		}
	}
	return false
}

// WithBuiltinRule is the consumer middleware that gives swept chats their
// built-in rule: for a livechat.sweep_unassigned event, the next handler (the
// engine with the rule file) runs first, then builtin (an engine with
// BuiltinRuleSet), unless the rule set in force, current(), Overrides it. It
// looks at current() for every event, so a rule file reloaded with or
// without its own sweep rule takes effect at once. Other events go to next
// only.
//
// When both fail, the event is retried if either failure is retryable (with
// the longer hint), else it is dead-lettered.
func WithBuiltinRule(current func() *rules.RuleSet, builtin consumer.Handler) consumer.Middleware {
	return func(next consumer.Handler) consumer.Handler {
		return consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
			if ev.Platform != event.LiveChat || ev.Action != ActionUnassigned || Overrides(current()) {
				return next.Handle(ctx, ev)
			}
			return combine(next.Handle(ctx, ev), builtin.Handle(ctx, ev))
		})
	}
}

// combine joins two handlers' errors under the runner's policy.
func combine(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	permA, hintA := consumer.Classify(a)
	permB, hintB := consumer.Classify(b)
	if permA && permB {
		return consumer.Permanent("several rules failed", errors.Join(a, b))
	}
	var hint time.Duration
	if !permA {
		hint = max(hint, hintA)
	}
	if !permB {
		hint = max(hint, hintB)
	}
	return consumer.Retry(errors.Join(a, b), hint)
}
