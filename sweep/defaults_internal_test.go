package sweep

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

// TestTrackerIdleDefaultIsTheConfigurations: a Tracker built without
// WithIdle waits as long as the default sweep.wait; the default lives in
// one place, package config.
func TestTrackerIdleDefaultIsTheConfigurations(t *testing.T) {
	srv := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, config.NATS{URL: srv.URL()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: time.Minute, Retention: time.Hour}))
	tr, err := NewTracker(ctx, b.JS, event.LiveChat, "sweep", time.Now())
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	assert.Equal(t, config.Default().Sweep.Wait, tr.idle)
}
