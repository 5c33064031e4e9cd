// Package livechat registers LiveChat with the platform registry: importing
// it (platform/all does) makes the livechat.* rule actions, the
// classification of the livechat client's errors and `enrich: chat`
// (get_chat) available to the service's rules.
package livechat

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
)

func init() { platform.Register(Platform()) }

// Platform describes LiveChat: its name (event.LiveChat), its rule actions
// (Actions), error classification (Errors), chat (Chat) and enrichment
// (Enrich).
func Platform() platform.Platform {
	return platform.Platform{Name: event.LiveChat, Title: "LiveChat", Actions: Actions,
		Classify: Errors.Classify, Chat: Chat, Enrich: Enrich, EnrichCall: "get_chat", NewClients: NewClients, NewReceiver: newReceiver}
}
