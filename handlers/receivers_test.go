package handlers

import (
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	hcp "github.com/chatwarden/chatwarden/platform/helpcrunch"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	rcp "github.com/chatwarden/chatwarden/platform/rocketchat"
)

// receivers are the shipped platforms' webhook receivers, as the service
// builds them from livechat.webhook_secrets (lcSecrets),
// helpcrunch.signing_key (hcKey, without the freshness check) and
// rocketchat.webhook_token (rcToken); an empty secret refuses every webhook
// of its platform.
func receivers(lcSecrets []string, hcKey, rcToken string) map[string]platform.Receiver {
	return map[string]platform.Receiver{
		event.LiveChat:   lcp.NewReceiver(lcSecrets...),
		event.HelpCrunch: hcp.Receiver{SigningKey: hcKey},
		event.RocketChat: rcp.NewReceiver(rcToken),
	}
}
