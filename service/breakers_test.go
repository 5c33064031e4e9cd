package service_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/breaker"
	"github.com/chatwarden/chatwarden/service"
)

// TestOneBreakerPerPlatformAndCredentials: the clients get a circuit
// breaker per platform and set of credentials (each LiveChat organization
// with its own, the default ones, the HelpCrunch account, the Rocket.Chat
// server), none for credentials that are not configured, and an event's
// calls go through its organization's.
func TestOneBreakerPerPlatformAndCredentials(t *testing.T) {
	cfg := config.Default()
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.LiveChat.Organizations = map[string]config.Credentials{"org-1": {Token: "t1"}, "org-empty": {}}
	cfg.HelpCrunch.APIKey = "hc-key"
	cfg.RocketChat = config.RocketChat{URL: "https://chat.example.com:3000", UserID: "u", AuthToken: "t"}
	set := breaker.NewSet(breaker.Settings{})
	cs, err := service.NewClients(context.Background(), cfg, nil, nil, nil, service.WithBreakers(set))
	require.NoError(t, err)

	var names []string
	for _, st := range set.Statuses() {
		names = append(names, st.Platform+"/"+st.Org)
		assert.Equal(t, "closed", st.State)
	}
	assert.Equal(t, []string{"helpcrunch/default", "livechat/default", "livechat/org-1", "rocketchat/chat.example.com:3000"}, names)

	for _, tc := range []struct{ platform, tenant, want string }{
		{event.LiveChat, "org-1", "org-1"},
		{event.LiveChat, "someone-else", service.DefaultOrg},
		{event.LiveChat, "org-empty", service.DefaultOrg},
		{event.HelpCrunch, "", service.DefaultOrg},
		{event.RocketChat, "", "chat.example.com:3000"},
	} {
		assert.Equal(t, tc.want, cs.BreakerOrg(tc.platform, tc.tenant), "%s %q", tc.platform, tc.tenant)
	}
}
