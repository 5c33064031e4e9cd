package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/testfs"
)

// bigEvent is an event of about 4 KB stored: its payload does not
// compress.
func bigEvent(i int) *event.Event {
	ev := testEvent(fmt.Sprintf("C%05d", i))
	pad := make([]byte, 3000)
	rand.Read(pad)
	ev.Payload = []byte(`{"pad":"` + base64.StdEncoding.EncodeToString(pad) + `"}`)
	return ev
}

// TestStoreCapRefusesAtOnceAndHeals runs without root: JetStream's store
// capped at 1 MiB (nats.max_file_store_bytes) fills up; publishes then fail
// at once with ErrStorageFull and Ready says so; when room comes back (as
// retention would free it; here a purge), publishing resumes by itself.
func TestStoreCapRefusesAtOnceAndHeals(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{DataDir: t.TempDir(), Listen: "off", MaxFileStoreBytes: 1 << 20},
		bus.WithLogger(zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(ctx) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, settings(16)))
	n := 0
	for ; n < 2000 && err == nil; n++ {
		_, err = b.Publish(ctx, bigEvent(n))
	}
	require.ErrorIs(t, err, bus.ErrStorageFull, "after %d events of 4 KB", n)
	assert.Contains(t, err.Error(), "insufficient resources")

	for i := range 5 {
		start := time.Now()
		_, err := b.Publish(ctx, bigEvent(n+i))
		assert.ErrorIs(t, err, bus.ErrStorageFull)
		assert.Less(t, time.Since(start), 500*time.Millisecond, "refused at once")
	}
	assert.ErrorIs(t, b.Ready(ctx), bus.ErrStorageFull)
	st := b.StoreState()
	assert.Equal(t, bus.ReasonStorageFull, st.Reason)
	assert.Contains(t, st.Cause, "insufficient resources")
	assert.Equal(t, int64(1<<20), st.StoreMaxBytes)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 1, logs.FilterMessageSnippet("store is nearly full").Len(), "warned once, not at every check")
	}, 5*time.Second, 20*time.Millisecond)

	s, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	require.NoError(t, s.Purge(ctx))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := b.Publish(ctx, bigEvent(n+10))
		assert.NoError(c, err)
	}, 10*time.Second, 50*time.Millisecond, "a probe publish each second finds the room")
	assert.NoError(t, b.Ready(ctx))
	assert.Empty(t, b.StoreState().Reason)
}

// TestStoreIsDescribedAtStart: the embedded store says how much it may use
// and how much room its disk has, and warns when the disk has less than
// nats.min_free_disk_bytes or less than the cap.
func TestStoreIsDescribedAtStart(t *testing.T) {
	tests := []struct {
		name      string
		dataDir   func(t *testing.T) string
		cfg       config.NATS
		wantMax   int64 // 0: JetStream's choice, some positive number
		wantFrom  string
		wantWarns []string
	}{
		{"defaults", func(t *testing.T) string { return t.TempDir() }, config.NATS{MinFreeDiskBytes: 1},
			0, "JetStream's default: 75% of the free disk space at start", nil},
		{"configured cap", func(t *testing.T) string { return t.TempDir() }, config.NATS{MaxFileStoreBytes: 8 << 20, MinFreeDiskBytes: 1},
			8 << 20, "nats.max_file_store_bytes", nil},
		{"less free disk than the headroom", func(t *testing.T) string { return t.TempDir() }, config.NATS{MinFreeDiskBytes: 1 << 60},
			0, "JetStream's default: 75% of the free disk space at start", []string{"little free disk space left"}},
		{"a cap larger than the disk (tmpfs, root)", func(t *testing.T) string { return testfs.Tmpfs(t, 4<<20) },
			config.NATS{MaxFileStoreBytes: 64 << 20, MinFreeDiskBytes: 1}, 64 << 20, "nats.max_file_store_bytes",
			[]string{"larger than the free space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			cfg := tt.cfg
			cfg.DataDir, cfg.Listen = tt.dataDir(t), "off"
			b, err := bus.Open(context.Background(), cfg, bus.WithLogger(zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))))
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close(context.Background()) })

			said := logs.FilterMessageSnippet("JetStream may store up to").All()
			require.Len(t, said, 1)
			f := said[0].ContextMap()
			assert.Equal(t, tt.wantFrom, f["store_max_from"])
			if tt.wantMax > 0 {
				assert.Equal(t, tt.wantMax, f["store_max_bytes"])
			} else {
				assert.Positive(t, f["store_max_bytes"])
			}
			assert.Positive(t, f["disk_free_bytes"])
			assert.Equal(t, cfg.DataDir, f["data_dir"])
			warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
			require.Len(t, warns, len(tt.wantWarns))
			for i, w := range tt.wantWarns {
				assert.Contains(t, warns[i].Message, w)
			}
		})
	}
}
