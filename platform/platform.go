// Package platform is the registry of the chat platforms chatwarden acts
// on, in the pattern of database/sql.Register and caddy's RegisterModule:
// each platform's adapter package (platform/livechat, platform/helpcrunch,
// platform/rocketchat) describes itself with a Platform and calls Register
// from its init function; the binary imports the adapters it wants (all of
// them: platform/all) and the service takes the rule actions of every
// registered platform from here (Actions) instead of from a list that
// names each one.
//
// Adding a platform is one new adapter package plus one blank import line
// in platform/all; docs/platforms.md walks through it.
package platform

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/rules"
)

// Platform describes one platform to the rest of chatwarden.
type Platform struct {
	// Name is the platform's id: the `platform` of stored events, the
	// prefix of its webhook actions in a rule's `on` and of its rule
	// actions (`livechat.unpin`). Lower case letters and digits, required.
	Name string
	// Title is the platform's name for people ("Rocket.Chat"); default
	// Name.
	Title string
	// Actions returns the platform's rule actions, built with rules.Define
	// or rules.DefineChecked. Each is named Name + "." + something;
	// Register refuses one that is not. Nil: the platform has no actions
	// (it only receives webhooks).
	Actions func() []rules.Action
	// WebhookActions are the platform's documented webhook actions, for a
	// platform other than LiveChat, HelpCrunch and Rocket.Chat (package
	// event lists theirs): Register (the package function) gives them to
	// event.RegisterWebhookActions, so that rules may name them in `on`,
	// its steps are judged against the rule's `on` like the others', and
	// metrics label its events. Nil: event knows the platform already, or
	// it receives no webhooks.
	WebhookActions []string
	// Classify maps an error of the platform's client onto the runner's
	// retry policy: retryable, outage or permanent (build it with
	// rules.PlatformErrors.Classify). The engine applies it to errors the
	// platform's actions return unclassified. Nil: those are retried.
	Classify func(ctx context.Context, err error) error
	// Chat describes what the platform's webhooks say about the chat (what
	// a rule's chat.* sees without enrichment). Nil: the chat and thread
	// ids.
	Chat func(ev *event.Event, now time.Time) rules.ChatEnv
	// Enrich fetches the chat's current state for `enrich: chat`, its
	// error classified. Nil: the platform's rules see the webhook's data.
	Enrich func(ctx context.Context, clients rules.Clients, ev *event.Event, now time.Time) (rules.ChatEnv, error)
	// EnrichCall names Enrich's API call in the latency metric ("get_chat");
	// default "enrich".
	EnrichCall string
	// NewClients builds the platform's API clients (see ClientEnv); the
	// service calls it once per process and gives its actions the result
	// through rules.Clients (platform name, tenant). Nil: the platform has
	// no client, and Client reports no credentials.
	NewClients NewClientsFunc
	// NewReceiver builds the platform's webhook receiver (see Receiver),
	// mounted at POST /webhooks/<Name>. Nil: the platform sends no
	// webhooks (its rules run on other platforms' events, cross_platform).
	NewReceiver NewReceiverFunc
	// Config returns a new, empty configuration section of the platform:
	// platforms.<Name> in the file (see config.Section; a pointer to a
	// struct with yaml tags, its defaults set by Provision and its keys
	// checked by Validate). Register registers it with package config;
	// NewClients and NewReceiver read the decoded one from
	// cfg.Platforms[Name]. Nil: the platform has no section (LiveChat,
	// HelpCrunch and Rocket.Chat keep their top-level ones).
	Config func() config.Section
}

// Hooks is what the rule engine asks of p besides its actions.
func (p Platform) Hooks() rules.PlatformHooks {
	return rules.PlatformHooks{Classify: p.Classify, Chat: p.Chat, Enrich: p.Enrich, EnrichCall: p.EnrichCall}
}

// validName is what a platform's Name may be: it is a rule file's prefix
// and a metric label value.
var validName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// check reports what is wrong with p, naming it.
func (p Platform) check() error {
	if !validName.MatchString(p.Name) {
		return fmt.Errorf("platform: name %q: want lower case letters and digits, starting with a letter", p.Name)
	}
	for _, a := range p.WebhookActions {
		if a == "" || a == "*" {
			return fmt.Errorf("platform %s: webhook action %q: want a name", p.Name, a)
		}
	}
	if p.Actions == nil {
		return nil
	}
	for _, a := range p.Actions() {
		if !strings.HasPrefix(a.Name, p.Name+".") || len(a.Name) == len(p.Name)+1 {
			return fmt.Errorf("platform %s: action %q must be named %s.<action>", p.Name, a.Name, p.Name)
		}
	}
	if _, err := rules.NewActions(p.Actions()...); err != nil {
		return fmt.Errorf("platform %s: %w", p.Name, err)
	}
	return nil
}

// Registry holds platforms by name. It is safe for concurrent use; the
// zero value is not: build one with NewRegistry.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Platform
}

// NewRegistry returns an empty registry (for tests; binaries use Register
// and the default registry).
func NewRegistry() *Registry { return &Registry{m: map[string]Platform{}} }

// Register adds p. It fails when p's name is empty or malformed, when a
// platform of that name is registered already, or when an action of p is
// misnamed, built without rules.Define or defined twice.
func (r *Registry) Register(p Platform) error {
	if err := p.check(); err != nil {
		return err
	}
	if p.Title == "" {
		p.Title = p.Name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[p.Name]; dup {
		return fmt.Errorf("platform: %q is registered twice", p.Name)
	}
	r.m[p.Name] = p
	return nil
}

// Lookup returns the platform registered under name.
func (r *Registry) Lookup(name string) (Platform, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.m[name]
	return p, ok
}

// All returns the registered platforms sorted by name.
func (r *Registry) All() []Platform {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Platform, 0, len(r.m))
	for _, p := range r.m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Platform) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Actions returns a new set holding the actions of every registered
// platform. Register checked each platform's own; names of different
// platforms cannot collide, since each carries its platform's prefix.
func (r *Registry) Actions() rules.Actions {
	var acts []rules.Action
	for _, p := range r.All() {
		if p.Actions != nil {
			acts = append(acts, p.Actions()...)
		}
	}
	set, err := rules.NewActions(acts...)
	if err != nil {
		// Unreachable: Register checked each platform, and prefixes
		// keep platforms apart.
		panic(fmt.Sprintf("platform: %v", err))
	}
	return set
}

// Hooks returns the engine hooks of every registered platform, by name
// (for rules.WithPlatforms).
func (r *Registry) Hooks() map[string]rules.PlatformHooks {
	out := map[string]rules.PlatformHooks{}
	for _, p := range r.All() {
		out[p.Name] = p.Hooks()
	}
	return out
}

var registry = NewRegistry()

// Default is the registry Register adds to: the platforms of the binary.
func Default() *Registry { return registry }

// Register adds p to the default registry, p.WebhookActions to package
// event (see event.RegisterWebhookActions) and p.Config to package config
// (config.RegisterSection). Like database/sql.Register, it
// panics when p cannot be registered (see Registry.Register) or its webhook
// actions refused: call it from the init function of p's adapter package.
func Register(p Platform) {
	if p.WebhookActions != nil && event.KnownPlatform(p.Name) {
		panic(fmt.Errorf("platform %s: event knows its webhook actions already; leave WebhookActions nil", p.Name))
	}
	if err := registry.Register(p); err != nil {
		panic(err)
	}
	if p.Config != nil {
		config.RegisterSection(p.Name, p.Config)
	}
	if p.WebhookActions != nil {
		if err := event.RegisterWebhookActions(p.Name, p.WebhookActions...); err != nil {
			panic(err)
		}
	}
}

// Lookup returns the platform of the default registry named name.
func Lookup(name string) (Platform, bool) { return registry.Lookup(name) }

// All returns the platforms of the default registry, sorted by name.
func All() []Platform { return registry.All() }

// Actions returns the actions of every platform in the default registry:
// what the service's rules can run (see service.LoadRules).
func Actions() rules.Actions { return registry.Actions() }

// Hooks returns the engine hooks of the default registry's platforms: what
// an engine needs besides the actions (rules.WithPlatforms(platform.Hooks())).
func Hooks() map[string]rules.PlatformHooks { return registry.Hooks() }
