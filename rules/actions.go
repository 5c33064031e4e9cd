package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// Action is a named operation rules can run (`then: [- livechat.unpin: {}]`)
// with typed parameters validated when the rule file loads. Build one with
// Define.
type Action struct {
	Name        string
	Description string
	// Idempotent actions may run again on a redelivered event (unpinning an
	// unpinned chat is harmless). Others (sending a message, transferring)
	// are recorded after success and never run twice for the same event,
	// rule and step.
	Idempotent bool
	// Params documents the parameters (a zero value of the params type).
	Params any

	prepare   func(params map[string]any) (prepared, error)
	performed func(ctx context.Context, c *Call) (bool, error)
}

// WithPerformedCheck returns a copy of a non-idempotent action that, before
// running again for an event (a redelivery, or a retry after a call whose
// answer was lost), asks check whether the platform already shows it done;
// if so it is recorded as done and not repeated. This closes the window in
// which a worker dies after the platform acted and before the action was
// recorded. check finds the action by c.IdempotencyKey, which the action
// must leave on the platform (LiveChat send_event: the event's custom_id).
// For a check that needs the parameters, see DefineChecked.
func (a Action) WithPerformedCheck(check func(ctx context.Context, c *Call) (bool, error)) Action {
	a.performed = check
	return a
}

// DefineChecked defines a non-idempotent action (see Define) whose effect
// shows on the platform: before running again for an event (a redelivery,
// or a retry after a call whose answer was lost) it asks performed whether
// the chat is already in the state the action puts it in (a transfer: the
// chat is in the target group); if so the action is recorded as done and
// not repeated. Use it when the action leaves no marker of its own to find
// (see WithPerformedCheck).
func DefineChecked[P any](name, description string, run func(ctx context.Context, c *Call, p P) error,
	performed func(ctx context.Context, c *Call, p P) (bool, error)) Action {
	a := Define(name, description, false, run)
	prepare := a.prepare
	a.prepare = func(raw map[string]any) (prepared, error) {
		pr, err := prepare(raw)
		if err != nil {
			return pr, err
		}
		p := pr.params.(P)
		pr.performed = func(ctx context.Context, c *Call) (bool, error) { return performed(ctx, c, p) }
		return pr, nil
	}
	return a
}

// prepared is an action bound to validated parameters.
type prepared struct {
	params any
	run    func(ctx context.Context, c *Call) error
	// performed, when set, is the action's check bound to these parameters
	// (DefineChecked); it takes precedence over Action.performed.
	performed func(ctx context.Context, c *Call) (bool, error)
}

// performedCheck is the check to run before an action runs again for an
// event, or nil.
func (s *step) performedCheck() func(ctx context.Context, c *Call) (bool, error) {
	if s.prepared.performed != nil {
		return s.prepared.performed
	}
	return s.action.performed
}

// Validator is implemented by parameter types that check themselves.
type Validator interface{ Validate() error }

// Define builds an action whose parameters decode strictly (unknown keys are
// errors) into P, and are checked by P's Validate method when it has one.
func Define[P any](name, description string, idempotent bool, run func(ctx context.Context, c *Call, p P) error) Action {
	var zero P
	return Action{
		Name: name, Description: description, Idempotent: idempotent, Params: zero,
		prepare: func(raw map[string]any) (prepared, error) {
			var p P
			if raw == nil {
				raw = map[string]any{}
			}
			data, err := json.Marshal(raw)
			if err != nil {
				return prepared{}, fmt.Errorf("parameters: %w", err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				return prepared{}, fmt.Errorf("parameters: %w", err)
			}
			if v, ok := any(&p).(Validator); ok {
				if err := v.Validate(); err != nil {
					return prepared{}, fmt.Errorf("parameters: %w", err)
				}
			}
			return prepared{params: p, run: func(ctx context.Context, c *Call) error { return run(ctx, c, p) }}, nil
		},
	}
}

// Actions is a set of actions by name.
type Actions map[string]Action

// NewActions returns a set holding acts; a name used twice is an error.
func NewActions(acts ...Action) (Actions, error) {
	a := Actions{}
	return a, a.Add(acts...)
}

// Add adds acts to the set.
func (a Actions) Add(acts ...Action) error {
	for _, act := range acts {
		if act.prepare == nil || act.Name == "" {
			return fmt.Errorf("action %q: build actions with rules.Define", act.Name)
		}
		if _, dup := a[act.Name]; dup {
			return fmt.Errorf("action %q is defined twice", act.Name)
		}
		a[act.Name] = act
	}
	return nil
}

// Names lists the actions, sorted.
func (a Actions) Names() []string {
	out := make([]string, 0, len(a))
	for n := range a {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NoParams is the parameter type of actions that take none.
type NoParams struct{}

// Call is what an action or a Go handler receives: the event, the chat as
// the rule saw it, the platform clients, and Do to run other actions with
// the same audit, dry-run and idempotency handling as YAML rules.
type Call struct {
	Event *event.Event
	Chat  ChatEnv
	Rule  string

	engine    *Engine
	dryRun    bool
	stepKey   string
	doCount   int
	actionKey string // set while an action runs
}

// IdempotencyKey names the running action for this event, rule and step:
// the same on every delivery of the event, different for any other action.
// Empty outside an action.
func (c *Call) IdempotencyKey() string { return c.actionKey }

// Clients returns the platform clients for the event's organization.
func (c *Call) Clients() Clients { return c.engine.clients }

// Client returns the client of platform for the event's organization (see
// Clients; ClientAs asserts its type).
func (c *Call) Client(platform string) (any, error) {
	return c.engine.clients.Client(platform, c.Event.Tenant)
}

// Now is the engine's clock (WithClock; default time.Now).
func (c *Call) Now() time.Time { return c.engine.now() }

// ChatID is the chat the actions act on: the event's, or the enriched chat's.
func (c *Call) ChatID() string {
	if c.Event.ChatID != "" {
		return c.Event.ChatID
	}
	return c.Chat.ID
}

// ThreadID is the thread actions act on: the event's, else the chat's latest.
func (c *Call) ThreadID() string {
	if c.Event.ThreadID != "" {
		return c.Event.ThreadID
	}
	return c.Chat.ThreadID
}

// DryRun reports whether actions are only recorded.
func (c *Call) DryRun() bool { return c.dryRun }

// Do runs the named action with params (a map or a struct of the action's
// parameter type), as if it were a step of the rule: validated, audited,
// skipped in dry run, and never repeated on redelivery when it is not
// idempotent.
func (c *Call) Do(ctx context.Context, action string, params any) error {
	act, ok := c.engine.actions[action]
	if !ok {
		return fmt.Errorf("rule %s: unknown action %q (known: %s)", c.Rule, action, strings.Join(c.engine.actions.Names(), ", "))
	}
	raw, err := toMap(params)
	if err != nil {
		return fmt.Errorf("rule %s, action %s: %w", c.Rule, action, err)
	}
	p, err := act.prepare(raw)
	if err != nil {
		return fmt.Errorf("rule %s, action %s: %w", c.Rule, action, err)
	}
	c.doCount++
	st := step{action: act, prepared: p, key: fmt.Sprintf("%s/do%d", c.stepKey, c.doCount)}
	return c.engine.runStep(ctx, c, st)
}

func toMap(params any) (map[string]any, error) {
	if params == nil {
		return nil, nil
	}
	if m, ok := params.(map[string]any); ok {
		return m, nil
	}
	data, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parameters must be an object: %w", err)
	}
	return m, nil
}
