// Package livechat registers LiveChat with the platform registry: importing it
// (platform/all does) makes the livechat.* rule actions available to the
// service's rules.
package livechat

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func init() { platform.Register(Platform()) }

// Platform describes LiveChat: its name (event.LiveChat) and its rule actions
// (rules.LiveChatActions).
func Platform() platform.Platform {
	return platform.Platform{Name: event.LiveChat, Title: "LiveChat", Actions: rules.LiveChatActions}
}
