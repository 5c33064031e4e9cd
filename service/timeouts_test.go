package service_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/service"
)

// helpcrunch.request_timeout and rocketchat.request_timeout bound their
// platform's calls, not livechat.request_timeout: against an API that never
// answers, a call ends after its platform's 200 ms, not the hour LiveChat is
// given. (The 30 s deadline and 10 s bound are generous for CI.)
func TestPlatformRequestTimeouts(t *testing.T) {
	url, _ := apiclienttest.ServeHanging(t)
	cfg := config.Default()
	cfg.LiveChat.RequestTimeout = time.Hour
	cfg.HelpCrunch.APIURL, cfg.HelpCrunch.APIKey, cfg.HelpCrunch.RequestTimeout = url, "key", 200*time.Millisecond
	cfg.RocketChat = config.RocketChat{URL: url, UserID: "u1", AuthToken: "tok", RequestTimeout: 200 * time.Millisecond}
	cs, err := service.NewClients(t.Context(), cfg, nil, nil, nil)
	require.NoError(t, err)
	hcAny, err := cs.Client(event.HelpCrunch, "")
	require.NoError(t, err)
	rcAny, err := cs.Client(event.RocketChat, "")
	require.NoError(t, err)
	hc, rc := hcAny.(*helpcrunch.Client), rcAny.(*rocketchat.Client)

	calls := map[string]func(context.Context) error{
		"helpcrunch": func(ctx context.Context) error { _, err := hc.Unassign(ctx, 1); return err },
		"rocketchat": func(ctx context.Context) error { _, err := rc.GetRoom(ctx, "R1"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := call(ctx)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 10*time.Second, "ended by the platform's request timeout: %v", err)
			ne, ok := errors.AsType[net.Error](err)
			assert.True(t, ok && ne.Timeout(), "a timeout: %v", err)
		})
	}
}
