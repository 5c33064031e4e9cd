package rules

import (
	"context"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// What the external tests (package rules_test, which may import the
// platform adapters) need of the engine's insides.

// NewEventEnv is newEventEnv.
var NewEventEnv = newEventEnv

// Compiled is a compiled rule.
type Compiled = compiled

// CompiledRules are the set's compiled rules, in file order.
func (s *RuleSet) CompiledRules() []*Compiled { return s.rules }

// Eval evaluates the rule's condition in env.
func (c *compiled) Eval(env *Env) (bool, error) { return c.eval(env) }

// ApplyFirstRule applies the first rule in force to ev at now, as Handle
// does, and reports whether the chat was built (from the webhook or the
// API).
func (e *Engine) ApplyFirstRule(ctx context.Context, ev *event.Event, now time.Time) (chatBuilt bool, err error) {
	st := &evaluation{ev: ev, now: now, eventEnv: NewEventEnv(ev, now, false)}
	err = e.apply(ctx, e.set.Load().rules[0], st)
	return st.base != nil || st.enriched != nil, err
}

// SetDryRun is WithDryRun after the fact.
func (e *Engine) SetDryRun(on bool) { e.dryRun = on }

// Clients are the engine's clients.
func (e *Engine) Clients() Clients { return e.clients }

// SetAuditor replaces the engine's auditor.
func (e *Engine) SetAuditor(a Auditor) { e.audit = a }

// CountPropertiesChecks makes the engine count how often it reads an
// event's additional data for chat properties.
func (e *Engine) CountPropertiesChecks() *int {
	n := new(int)
	check := e.carriesProperties
	e.carriesProperties = func(ev *event.Event) bool { *n++; return check(ev) }
	return n
}
