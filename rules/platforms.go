package rules

import (
	"context"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/event"
)

// PlatformHooks is what the engine asks of a platform besides its actions:
// how its client's errors are classified, what its webhooks say about the
// chat, and how its chat's current state is fetched. Package platform
// holds them for every registered platform (platform.Hooks); an engine gets
// them with WithPlatforms. Every field may be nil.
type PlatformHooks struct {
	// Classify maps an error of the platform's client onto the runner's
	// retry policy (consumer.Retry, consumer.Outage, consumer.Permanent; see
	// PlatformErrors.Classify). The engine applies it to an error that one
	// of the platform's actions (named "<platform>.<action>") or a Go
	// handler's c.Do of one returns unclassified. Nil: such errors are
	// retried.
	Classify func(ctx context.Context, err error) error
	// Chat describes what an event of the platform itself says about its
	// chat (chat.* in a rule's `if` without enrichment), as of now. Nil:
	// the event's chat and thread ids only.
	Chat func(ev *event.Event, now time.Time) ChatEnv
	// Enrich fetches the current state of the event's chat, for `enrich:
	// chat` (and for `enrich: properties` when the webhook carries no chat
	// properties), through clients; its error is classified already (a
	// missing client: consumer.Permanent "no credentials"). The engine calls
	// it at most once per event, only when the event has a chat id. Nil:
	// the rule sees what the webhook says (Chat).
	Enrich func(ctx context.Context, clients Clients, ev *event.Event, now time.Time) (ChatEnv, error)
	// EnrichCall names the API call Enrich makes, the operation label of
	// its latency in chatwarden_action_duration_seconds; default "enrich".
	EnrichCall string
}

// WithPlatforms sets the platforms' hooks by platform name (default none:
// the engine enriches nothing and retries every unclassified error).
// Services pass platform.Hooks(), those of every registered platform.
func WithPlatforms(hooks map[string]PlatformHooks) EngineOption {
	return func(e *Engine) { e.platforms = hooks }
}

// classifyFor classifies err, returned by action (or by a step naming it),
// with the hooks of the action's platform; err unchanged when that platform
// has no Classify or err is classified already.
func (e *Engine) classifyFor(ctx context.Context, action string, err error) error {
	if err == nil || isClassified(err) {
		return err
	}
	name, _, ok := strings.Cut(action, ".")
	if !ok {
		return err
	}
	if h, ok := e.platforms[name]; ok && h.Classify != nil {
		return h.Classify(ctx, err)
	}
	return err
}
