package service

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

// TestLiveChatRatesFromConfiguration: each LiveChat client paces itself
// from livechat.initial_rate up to livechat.max_rate, and an organization's
// own rates replace them for its client.
func TestLiveChatRatesFromConfiguration(t *testing.T) {
	cfg := config.Default()
	cfg.LiveChat.PAT = config.PAT{AccountID: "a", Token: "t"}
	cfg.LiveChat.MaxRate = 150
	cfg.LiveChat.Organizations = map[string]config.Credentials{
		"org-fast": {Token: "x", MaxRate: 400, InitialRate: 50},
		"org-same": {Token: "y"},
	}
	cs, err := NewClients(context.Background(), cfg, nil, nil, nil)
	require.NoError(t, err)
	rates := func(tenant string) livechat.AdaptiveConfig {
		api, err := cs.Client(event.LiveChat, tenant)
		require.NoError(t, err)
		lim, ok := api.(*livechat.Client).RateLimiter().(*livechat.AdaptiveLimiter)
		require.True(t, ok, "an adaptive limiter paces every client")
		return lim.Config()
	}
	for _, tc := range []struct {
		name, tenant      string
		wantMax, wantInit float64
	}{
		{"the default client", "", 150, config.DefaultLiveChatInitialRate},
		{"an organization with its own rates", "org-fast", 400, 50},
		{"an organization without", "org-same", 150, config.DefaultLiveChatInitialRate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rates(tc.tenant)
			assert.Equal(t, tc.wantMax, got.MaxRate)
			assert.Equal(t, tc.wantInit, got.InitialRate)
		})
	}
}

// TestPlatformRateCeilings: helpcrunch.max_rate and rocketchat.max_rate
// space the clients' requests. With a ceiling of 1-2 a second, a second
// call right after the first has no slot within a 200 ms deadline and
// fails at once, saying so; with a high ceiling (or none) it goes through.
func TestPlatformRateCeilings(t *testing.T) {
	hcFake := helpcrunchtest.New()
	hcURL, stopHC := hcFake.Start()
	t.Cleanup(stopHC)
	chat := hcFake.AddChat(helpcrunch.Chat{})
	rcFake := rocketchattest.New()
	rcURL, stopRC := rcFake.Start()
	t.Cleanup(stopRC)
	room := rcFake.AddRoom(rocketchat.Room{Open: true})

	for _, tc := range []struct {
		name       string
		helpCrunch float64
		rocketChat float64
		wantPaced  bool
	}{
		{name: "low ceilings space the calls", helpCrunch: 2, rocketChat: 1, wantPaced: true},
		{name: "high ceilings let them through", helpCrunch: 1000, rocketChat: 1000},
		{name: "no Rocket.Chat ceiling", helpCrunch: 1000, rocketChat: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.HelpCrunch.APIURL, cfg.HelpCrunch.APIKey, cfg.HelpCrunch.MaxRate = hcURL, "key", tc.helpCrunch
			cfg.RocketChat.URL, cfg.RocketChat.UserID, cfg.RocketChat.AuthToken, cfg.RocketChat.MaxRate = rcURL, "u", "tok", tc.rocketChat
			cs, err := NewClients(context.Background(), cfg, nil, nil, nil)
			require.NoError(t, err)
			hcAny, err := cs.Client(event.HelpCrunch, "")
			require.NoError(t, err)
			rcAny, err := cs.Client(event.RocketChat, "")
			require.NoError(t, err)
			hc, rc := hcAny.(*helpcrunch.Client), rcAny.(*rocketchat.Client)

			second := func(call func(ctx context.Context) error) error {
				require.NoError(t, call(context.Background()), "the first call has its slot")
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				return call(ctx)
			}
			hcErr := second(func(ctx context.Context) error {
				_, err := hc.SetStatus(ctx, chat, helpcrunch.StatusOpened)
				return err
			})
			rcErr := second(func(ctx context.Context) error {
				_, err := rc.GetRoom(ctx, room)
				return err
			})
			if tc.wantPaced {
				assert.ErrorIs(t, hcErr, helpcrunch.ErrRateLimited)
				assert.ErrorContains(t, rcErr, "rocketchat.max_rate")
			} else {
				assert.NoError(t, hcErr)
				assert.NoError(t, rcErr)
			}
		})
	}
}
