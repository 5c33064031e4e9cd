// Package helpcrunch registers HelpCrunch with the platform registry:
// importing it (platform/all does) makes the helpcrunch.* rule actions and
// the classification of the helpcrunch client's errors available to the
// service's rules.
package helpcrunch

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func init() { platform.Register(Platform()) }

// Platform describes HelpCrunch: its name (event.HelpCrunch), its rule
// actions (Actions) and error classification (Errors).
func Platform() platform.Platform {
	return platform.Platform{Name: event.HelpCrunch, Title: "HelpCrunch", Actions: Actions, Classify: Errors.Classify,
		NewClients: NewClients, NewReceiver: newReceiver}
}

// Client returns the HelpCrunch client (see rules.ClientAs).
func Client(c *rules.Call) (API, error) { return rules.ClientAs[API](c, event.HelpCrunch) }
