package service_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
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
	rcAny, err := cs.Client(event.RocketChat, "")
	require.NoError(t, err)
	rc := rcAny.(*rocketchat.Client)

	failed := apiclienttest.Hammer(workers, calls, func() error {
		_, err := rc.GetRoom(t.Context(), "R1")
		return err
	})
	assert.Zero(t, failed, "failed calls")
	assert.LessOrEqual(t, opened(), workers+apiclienttest.ReuseSlack,
		"connections opened for %d calls from %d workers", calls, workers)
}
