package acme

import (
	"context"
	"errors"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/rules"
)

// PingParams are acme.ping's parameters; Validate runs when the rule file
// loads.
type PingParams struct {
	Note string `json:"note"`
}

// Validate implements rules.Validator.
func (p *PingParams) Validate() error {
	if p.Note == "" {
		return errors.New("note: required")
	}
	return nil
}

// Actions are the acme.* rule actions.
func Actions() []rules.Action {
	return []rules.Action{
		rules.Define("acme.ping", "Post a note to the conversation.", true, // idempotent: a second note is harmless here
			func(ctx context.Context, c *rules.Call, p PingParams) error {
				api, err := rules.ClientAs[*Client](c, Name)
				if err != nil {
					return consumer.Permanent("no credentials", err)
				}
				// Unclassified errors are classified by the engine with
				// Errors (Platform.Classify).
				return api.Ping(ctx, c.ChatID(), p.Note)
			}),
	}
}
