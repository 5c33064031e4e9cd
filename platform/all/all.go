// Package all registers every platform chatwarden ships: import it for its
// side effect (service does). A new platform's adapter package is added
// here, with one line.
package all

import (
	_ "github.com/chatwarden/chatwarden/platform/helpcrunch" // HelpCrunch
	_ "github.com/chatwarden/chatwarden/platform/livechat"   // LiveChat
	_ "github.com/chatwarden/chatwarden/platform/rocketchat" // Rocket.Chat
)
