package helpcrunch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chatwarden/chatwarden/consumer"
	hc "github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/rules"
)

// API is what the hc.* actions need from a client
// (*hc.Client implements it).
type API interface {
	SetStatus(ctx context.Context, chatID int64, status hc.Status) (*hc.Chat, error)
	Assign(ctx context.Context, chatID, agentID int64) (*hc.Chat, error)
	Unassign(ctx context.Context, chatID int64) (*hc.Chat, error)
	Snooze(ctx context.Context, chatID int64, until time.Time) (*hc.Chat, error)
}

var _ API = (*hc.Client)(nil)

// helpCrunchErr maps a HelpCrunch error onto the runner's retry policy with
// the helpcrunch package's one decision function. Permanent failures are
// named by their HTTP status: validation (400 and arguments refused before
// sending), authentication (401), authorization (403), not_found (404).
func helpCrunchErr(ctx context.Context, err error) error {
	return Errors.Classify(ctx, err)
}

var Errors = rules.PlatformErrors{Retryable: hc.IsRetryable, RetryAfter: hc.RetryAfter,
	Status: func(err error) int {
		if ae, ok := errors.AsType[*hc.APIError](err); ok {
			return ae.StatusCode
		}
		return 0
	},
	Reason: func(err error) string {
		if errors.Is(err, hc.ErrInvalidArgument) {
			return "validation"
		}
		if ae, ok := errors.AsType[*hc.APIError](err); ok {
			if r := rules.StatusReason(ae.StatusCode); r != "" {
				return r
			}
			return ae.Code
		}
		return ""
	}}

// withHelpCrunch runs f with the HelpCrunch client and the event's chat id
// (HelpCrunch ids are integers), and classifies its error.
func withHelpCrunch(ctx context.Context, c *rules.Call, f func(api API, chatID int64) error) error {
	api, err := Client(c)
	if err != nil {
		return consumer.Permanent("no credentials", err)
	}
	raw := c.ChatID()
	if raw == "" {
		return consumer.Permanent("validation", fmt.Errorf("event %s has no HelpCrunch chat id", c.Event.ID))
	}
	chatID, err := hc.ParseChatID(raw)
	if err != nil {
		return consumer.Permanent("validation", err)
	}
	return helpCrunchErr(ctx, f(api, chatID))
}

// StatusParams for helpcrunch.set_status.
type StatusParams struct {
	// Status is one of new, opened, pending, on hold, no communication,
	// closed; "onhold", "on-hold" and other spellings hc.ParseStatus
	// accepts are normalised when the rule file loads.
	Status hc.Status `json:"status"`
}

// Validate implements rules.Validator.
func (p *StatusParams) Validate() error {
	st, err := hc.ParseStatus(string(p.Status))
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	p.Status = st
	return nil
}

// AssignParams for helpcrunch.assign.
type AssignParams struct {
	// AgentID is the agent to assign (an id from GET /v1/agents).
	AgentID int64 `json:"agent_id"`
}

// Validate implements rules.Validator.
func (p *AssignParams) Validate() error {
	if p.AgentID <= 0 {
		return errors.New("agent_id: required, a positive HelpCrunch agent id")
	}
	return nil
}

// MaxSnooze bounds helpcrunch.snooze's `for`.
const MaxSnooze = 366 * 24 * time.Hour

// SnoozeParams for helpcrunch.snooze.
type SnoozeParams struct {
	// For is how long to snooze, counted from when the event was received
	// (so a redelivered event snoozes to the same time): "30m", "24h". When
	// that time has passed already (a replay of an old event), nothing is
	// done.
	For string `json:"for"`

	d time.Duration
}

// Validate implements rules.Validator.
func (p *SnoozeParams) Validate() error {
	if p.For == "" {
		return errors.New(`for: required, a duration such as "24h"`)
	}
	d, err := time.ParseDuration(p.For)
	if err != nil {
		return fmt.Errorf("for: %q is not a duration such as 30m or 24h (write days as hours)", p.For)
	}
	if d < time.Minute || d > MaxSnooze {
		return fmt.Errorf("for: must be between 1m and %s, got %s", MaxSnooze, d)
	}
	p.d = d
	return nil
}

// Actions are the hc.* actions. They act on the event's
// chat (eventData.chat_id, or eventData.id of chat.* events). Every one is a
// state-setting PUT that the API answers with the whole chat, so each is
// idempotent: repeating it leaves the chat as one call does.
func Actions() []rules.Action {
	return []rules.Action{
		rules.Define("helpcrunch.set_status", "Set the chat's status (new, opened, pending, on hold, no communication, closed).", true,
			func(ctx context.Context, c *rules.Call, p StatusParams) error {
				return withHelpCrunch(ctx, c, func(api API, chatID int64) error {
					_, err := api.SetStatus(ctx, chatID, p.Status)
					return err
				})
			}),
		rules.Define("helpcrunch.assign", "Assign the chat to an agent (agent_id); assigning the current assignee again changes nothing.", true,
			func(ctx context.Context, c *rules.Call, p AssignParams) error {
				return withHelpCrunch(ctx, c, func(api API, chatID int64) error {
					_, err := api.Assign(ctx, chatID, p.AgentID)
					return err
				})
			}),
		rules.Define("helpcrunch.unassign", "Remove the chat's assignee.", true,
			func(ctx context.Context, c *rules.Call, _ rules.NoParams) error {
				return withHelpCrunch(ctx, c, func(api API, chatID int64) error {
					_, err := api.Unassign(ctx, chatID)
					return err
				})
			}),
		rules.Define("helpcrunch.snooze", "Snooze the chat for a duration counted from when the event was received (for: 24h).", true,
			func(ctx context.Context, c *rules.Call, p SnoozeParams) error {
				return withHelpCrunch(ctx, c, func(api API, chatID int64) error {
					now := c.Now()
					from := c.Event.ReceivedAt
					if from.IsZero() {
						from = now
					}
					until := from.Add(p.d).Truncate(time.Second)
					if !until.After(now) {
						// A replayed or long-delayed event: the snooze would
						// already be over, so there is nothing to do.
						return nil
					}
					_, err := api.Snooze(ctx, chatID, until)
					return err
				})
			}),
	}
}
