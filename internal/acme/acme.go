// Package acme is the adapter of Acme Chat, a made-up fourth platform: the
// compiled form of the walk-through in docs/platforms.md, and what
// service's TestRegisteredPlatformActsEndToEnd runs. Everything chatwarden
// needs of a platform is here, in one package that registers itself:
// its configuration section (platforms.acme), its API client, its webhook
// receiver (POST /webhooks/acme), the classification of its errors and its
// rule actions. A binary that imports it (one blank import, as
// platform/all imports the shipped adapters) serves Acme Chat.
package acme

import (
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/platform"
)

// Name is the platform's name: event.platform, the prefix of its rule
// actions and webhook actions, platforms.acme in the configuration and
// /webhooks/acme.
const Name = "acme"

func init() { platform.Register(Platform()) }

// Platform describes Acme Chat.
func Platform() platform.Platform {
	return platform.Platform{
		Name: Name, Title: "Acme Chat",
		// What Acme's webhooks send: `on: [acme.conversation.created]`.
		WebhookActions: []string{"conversation.created", "conversation.closed"},
		Actions:        Actions,
		Classify:       Errors.Classify,
		Config:         func() config.Section { return &Config{} },
		NewClients:     NewClients,
		NewReceiver:    NewReceiver,
	}
}
