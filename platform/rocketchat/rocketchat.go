// Package rocketchat registers Rocket.Chat with the platform registry:
// importing it (platform/all does) makes the rocketchat.* rule actions and
// the classification of the rocketchat client's errors available to the
// service's rules.
package rocketchat

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func init() { platform.Register(Platform()) }

// Platform describes Rocket.Chat: its name (event.RocketChat), its rule
// actions (Actions) and error classification (Errors).
func Platform() platform.Platform {
	return platform.Platform{Name: event.RocketChat, Title: "Rocket.Chat", Actions: Actions, Classify: Errors.Classify,
		NewClients: NewClients, NewReceiver: newReceiver}
}

// Client returns the Rocket.Chat client (see rules.ClientAs).
func Client(c *rules.Call) (API, error) { return rules.ClientAs[API](c, event.RocketChat) }
