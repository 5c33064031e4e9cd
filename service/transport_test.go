package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
	"github.com/chatwarden/chatwarden/service"
)

// The platform clients NewClients builds without an HTTP client of the
// caller's keep a connection per worker: 1,000 calls from
// workers.concurrency goroutines to one API host open at most that many
// connections (with http.DefaultTransport, which keeps 2 idle connections a
// host, they open hundreds; apiclienttest.ReuseSlack covers the rare
// connection Go's transport retires under load). Rocket.Chat, because its
// client does not pace itself; the transport is the same for every
// platform.
func TestPlatformClientsReuseConnections(t *testing.T) {
	const workers, calls = 32, 1000
	fake := rocketchattest.New(rocketchattest.WithAuth("u1", "tok"))
	fake.AddRoom(rocketchat.Room{ID: "R1", Open: true})
	url, opened := apiclienttest.ServeCounting(t, fake)

	cfg := config.Default()
	cfg.Workers.Concurrency = workers
	cfg.RocketChat = config.RocketChat{URL: url, UserID: "u1", AuthToken: "tok"}
	cs, err := service.NewClients(t.Context(), cfg, nil, nil, nil)
	require.NoError(t, err)
	rc, err := cs.RocketChat("")
	require.NoError(t, err)

	failed := apiclienttest.Hammer(workers, calls, func() error {
		_, err := rc.GetRoom(t.Context(), "R1")
		return err
	})
	assert.Zero(t, failed, "failed calls")
	assert.LessOrEqual(t, opened(), workers+apiclienttest.ReuseSlack,
		"connections opened for %d calls from %d workers", calls, workers)
}

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
	cs, err := service.NewClients(context.Background(), cfg, nil, nil, nil)
	require.NoError(t, err)
	hc, err := cs.HelpCrunch("")
	require.NoError(t, err)
	rc, err := cs.RocketChat("")
	require.NoError(t, err)

	calls := map[string]func(context.Context) error{
		"helpcrunch": func(ctx context.Context) error { _, err := hc.Unassign(ctx, 1); return err },
		"rocketchat": func(ctx context.Context) error { _, err := rc.GetRoom(ctx, "R1"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := call(ctx)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 10*time.Second, "ended by the platform's request timeout: %v", err)
			assert.True(t, helpcrunch.IsRetryable(err), "a timeout is retryable: %v", err)
		})
	}
}
