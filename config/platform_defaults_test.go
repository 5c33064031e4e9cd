package config

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/rocketchat"
)

// TestPlatformDefaultsAreTheClients: the default configuration calls the
// APIs as a client built without options does (the same hosts, timeouts
// and rates), so a client in a test or another program behaves as
// chatwarden's.
func TestPlatformDefaultsAreTheClients(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"livechat.api_url", c.LiveChat.APIURL, livechat.DefaultBaseURL},
		{"livechat.request_timeout", c.LiveChat.RequestTimeout, livechat.DefaultTimeout},
		{"livechat.initial_rate", c.LiveChat.InitialRate, livechat.DefaultInitialRate},
		{"livechat.oauth.accounts_url", c.LiveChat.OAuth.AccountsURL, oauth.DefaultAccountsURL},
		{"helpcrunch.api_url", c.HelpCrunch.APIURL, helpcrunch.DefaultBaseURL},
		{"helpcrunch.request_timeout", c.HelpCrunch.RequestTimeout, helpcrunch.DefaultTimeout},
		{"helpcrunch.max_rate", c.HelpCrunch.MaxRate * 60, float64(helpcrunch.DefaultRequestsPerMinute)},
		{"rocketchat.request_timeout", c.RocketChat.RequestTimeout, rocketchat.DefaultTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.EqualValues(t, tc.want, tc.got) })
	}
}
