// Package webhooks works out and makes the LiveChat webhook registrations
// chatwarden's rules need, through the Configuration API v3.6: the work of
// `chatwarden webhooks register` and `unregister`. The command line parses
// flags and renders the Steps.
package webhooks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rules"
)

// Description marks the registrations chatwarden makes.
const Description = "chatwarden"

// noAdditionalData are the actions that cannot carry additional_data.
var noAdditionalData = map[string]bool{"agent_status_changed": true, "agent_deleted": true}

// Need is what the rules need of one action's webhook.
type Need struct {
	// Properties: a rule of the action reads chat properties, so the
	// webhook should carry them (additional_data chat_properties).
	Properties bool
	// Rules are the rules listening to the action, in rule file order.
	Rules []string
}

// Needed derives the webhooks a rule set needs: one per LiveChat action of
// its rules' `on` (plus extra), with chat_properties when a rule of that
// action reads properties (enrich: properties, or chat.properties in its
// condition). Rules on livechat.* are returned in wildcards: they name no
// action to register.
func Needed(set *rules.RuleSet, extra []string) (need map[string]*Need, wildcards []string) {
	need = map[string]*Need{}
	get := func(action string) *Need {
		if need[action] == nil {
			need[action] = &Need{}
		}
		return need[action]
	}
	for _, r := range set.Rules() {
		props := r.Enrich == "properties" || strings.Contains(r.If, "chat.properties")
		for _, on := range r.On {
			platform, action, _ := strings.Cut(on, ".")
			if platform != event.LiveChat {
				continue
			}
			if action == "*" {
				wildcards = append(wildcards, r.Name)
				continue
			}
			n := get(action)
			n.Properties = n.Properties || props
			if !slices.Contains(n.Rules, r.Name) {
				n.Rules = append(n.Rules, r.Name)
			}
		}
	}
	for _, a := range extra {
		get(a)
	}
	return need, wildcards
}

// Client is the part of the Configuration API registering needs:
// *livechat.Client.
type Client interface {
	RegisterWebhook(ctx context.Context, w livechat.Webhook) (string, error)
	UnregisterWebhook(ctx context.Context, id, ownerClientID string) error
}

var _ Client = (*livechat.Client)(nil)

// Registration is what Register makes match.
type Registration struct {
	// Owner is the owner_client_id; URL where LiveChat calls; Secret the
	// secret_key it sends.
	Owner, URL, Secret string
	// Need are the actions to register (see Needed).
	Need map[string]*Need
	// Existing are the owner's registrations (list_webhooks).
	Existing []livechat.Webhook
	// DryRun changes nothing; Prune unregisters the registrations calling
	// URL that no action of Need wants.
	DryRun, Prune bool
}

// Outcome is what became of one registration.
type Outcome int

// Outcomes of a Step.
const (
	Kept            Outcome = iota // an identical registration exists
	WouldRegister                  // dry run
	Registered                     //
	NotNeeded                      // calls URL, not needed, kept (no Prune)
	WouldUnregister                // dry run with Prune
	Unregistered                   //
)

// Step is one registration Register kept, made or removed.
type Step struct {
	Action         string
	AdditionalData []string
	ID             string // "" for WouldRegister
	Outcome        Outcome
}

// Register registers one license webhook per action of r.Need (actions in
// name order), keeping an identical existing one instead, then reports (or,
// with Prune, unregisters) the registrations calling r.URL that none of them
// wants. It returns the steps done, also with an error: the first failed
// call, naming the action or webhook.
func Register(ctx context.Context, c Client, r Registration) ([]Step, error) {
	names := make([]string, 0, len(r.Need))
	for a := range r.Need {
		names = append(names, a)
	}
	slices.Sort(names)
	var steps []Step
	wanted := map[string]bool{} // ids of registrations to keep
	for _, action := range names {
		desired := livechat.Webhook{Action: action, URL: r.URL, SecretKey: r.Secret, OwnerClientID: r.Owner,
			Type: livechat.WebhookTypeLicense, Description: Description}
		if r.Need[action].Properties && !noAdditionalData[action] {
			desired.AdditionalData = []string{livechat.AdditionalChatProperties}
		}
		step := Step{Action: action, AdditionalData: desired.AdditionalData}
		idx := slices.IndexFunc(r.Existing, func(x livechat.Webhook) bool { return x.OwnerClientID == r.Owner && x.Same(desired) })
		switch {
		case idx >= 0:
			step.ID, step.Outcome = r.Existing[idx].ID, Kept
		case r.DryRun:
			step.Outcome = WouldRegister
		default:
			id, err := c.RegisterWebhook(ctx, desired)
			if err != nil {
				return steps, fmt.Errorf("registering the %s webhook: %w", action, err)
			}
			step.ID, step.Outcome = id, Registered
		}
		wanted[step.ID] = step.ID != ""
		steps = append(steps, step)
	}
	for _, x := range r.Existing {
		if x.URL != r.URL || wanted[x.ID] {
			continue
		}
		step := Step{Action: x.Action, AdditionalData: x.AdditionalData, ID: x.ID}
		switch {
		case !r.Prune:
			step.Outcome = NotNeeded
		case r.DryRun:
			step.Outcome = WouldUnregister
		default:
			if err := c.UnregisterWebhook(ctx, x.ID, r.Owner); err != nil {
				return steps, fmt.Errorf("unregistering webhook %s: %w", x.ID, err)
			}
			step.Outcome = Unregistered
		}
		steps = append(steps, step)
	}
	return steps, nil
}

// Select picks from hooks those to unregister: the ones with an id in ids,
// those calling url (when not ""), or all. An id of ids that hooks lacks is
// an error naming it.
func Select(hooks []livechat.Webhook, ids []string, url string, all bool) ([]livechat.Webhook, error) {
	for _, id := range ids {
		if !slices.ContainsFunc(hooks, func(h livechat.Webhook) bool { return h.ID == id }) {
			return nil, fmt.Errorf("%w %s", ErrNoWebhook, id)
		}
	}
	var pick []livechat.Webhook
	for _, h := range hooks {
		if all || (url != "" && h.URL == url) || slices.Contains(ids, h.ID) {
			pick = append(pick, h)
		}
	}
	return pick, nil
}
