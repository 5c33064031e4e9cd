// Package rocketchat registers Rocket.Chat with the platform registry: importing it
// (platform/all does) makes the rocketchat.* rule actions available to the
// service's rules.
package rocketchat

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func init() { platform.Register(Platform()) }

// Platform describes Rocket.Chat: its name (event.RocketChat) and its rule actions
// (rules.RocketChatActions).
func Platform() platform.Platform {
	return platform.Platform{Name: event.RocketChat, Title: "Rocket.Chat", Actions: rules.RocketChatActions}
}
