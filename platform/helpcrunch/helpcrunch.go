// Package helpcrunch registers HelpCrunch with the platform registry: importing it
// (platform/all does) makes the helpcrunch.* rule actions available to the
// service's rules.
package helpcrunch

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func init() { platform.Register(Platform()) }

// Platform describes HelpCrunch: its name (event.HelpCrunch) and its rule actions
// (rules.HelpCrunchActions).
func Platform() platform.Platform {
	return platform.Platform{Name: event.HelpCrunch, Title: "HelpCrunch", Actions: rules.HelpCrunchActions}
}
