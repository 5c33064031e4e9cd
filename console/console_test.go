package console

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

const partitions = 4

// openBus starts an embedded NATS server with the chatwarden streams.
func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config.Default().NATS
	cfg.DataDir, cfg.Listen = t.TempDir(), "off"
	b, err := bus.Open(ctx, cfg, bus.WithPartitions(partitions))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: partitions, DuplicateWindow: time.Minute, Retention: time.Hour}))
	return b
}

// publish stores n events; chat(i) names the chat of the i-th.
func publish(t *testing.T, b *bus.Bus, n int, chat func(i int) string) []*event.Event {
	t.Helper()
	out := make([]*event.Event, n)
	for i := range n {
		payload, err := json.Marshal(map[string]any{"chat_id": chat(i), "n": i})
		require.NoError(t, err)
		ev := &event.Event{Platform: event.LiveChat, Action: "chat_deactivated", ChatID: chat(i), Source: event.SourceWebhook,
			ReceivedAt: time.Now().UTC(), Payload: payload}
		ev.ID = event.ContentID(payload)
		_, err = b.Publish(context.Background(), ev)
		require.NoError(t, err)
		out[i] = ev
	}
	return out
}

func newConsole(t *testing.T, b *bus.Bus, opts ...Option) *Console {
	t.Helper()
	c, err := New(b.JS, b.Partitions(), append([]Option{WithLogger(zaptest.NewLogger(t))}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestRecentReadsOnlyTheNewestWindows(t *testing.T) {
	b := openBus(t)
	const n = 700 // more than the first two windows (256 + 512)
	evs := publish(t, b, n, func(i int) string { return fmt.Sprintf("C%d", i%50) })
	c := newConsole(t, b)
	ctx := context.Background()

	tests := []struct {
		name        string
		limit       int
		maxScan     int
		wantLen     int
		wantMaxRead int
		truncated   bool
	}{
		{"a few", 10, 0, 10, firstWindow, false},
		{"across windows", 300, 0, 300, firstWindow + 2*firstWindow, false},
		{"everything", MaxLimit, 0, MaxLimit, n, false},
		{"bounded read", 200, 100, 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := c
			if tt.maxScan > 0 {
				cc = newConsole(t, b, WithMaxScan(tt.maxScan))
			}
			page, err := cc.Recent(ctx, RecentQuery{Limit: tt.limit})
			require.NoError(t, err)
			require.Len(t, page.Entries, tt.wantLen)
			assert.Equal(t, tt.truncated, page.Truncated)
			assert.LessOrEqual(t, page.Scanned-len(page.Entries), tt.wantMaxRead, "events and audit records read")
			for i, e := range page.Entries {
				require.NotNil(t, e.Event)
				assert.Equal(t, evs[n-1-i].ID, e.EventID, "entry %d: newest first, none skipped", i)
			}
		})
	}
}

func TestTimelineFindsTheChatsEventsInItsPartition(t *testing.T) {
	b := openBus(t)
	const n = 600
	target := map[int]bool{3: true, 300: true, 599: true}
	evs := publish(t, b, n, func(i int) string {
		if target[i] {
			return "PJ0MRSHTDG"
		}
		return fmt.Sprintf("C%d", i)
	})
	c := newConsole(t, b)

	tl, err := c.Timeline(context.Background(), TimelineQuery{ChatID: "PJ0MRSHTDG"})
	require.NoError(t, err)
	require.Len(t, tl.Entries, 3)
	for i, want := range []int{3, 300, 599} {
		assert.Equal(t, evs[want].ID, tl.Entries[i].EventID, "oldest first")
	}
	assert.Less(t, tl.Scanned, n, "only the chat's partition is read")

	tl, err = c.Timeline(context.Background(), TimelineQuery{ChatID: "PJ0MRSHTDG", Since: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	assert.Empty(t, tl.Entries)
}

func TestMissingStreamsAreReported(t *testing.T) {
	b := openBus(t)
	ctx := context.Background()
	require.NoError(t, b.JS.DeleteStream(ctx, bus.AuditStream))
	c := newConsole(t, b)
	publish(t, b, 1, func(int) string { return "C1" })
	_, err := c.Recent(ctx, RecentQuery{})
	assert.ErrorIs(t, err, ErrNoStream)
	_, err = c.Rules(ctx, time.Time{})
	assert.ErrorIs(t, err, ErrNoRules, "no rule source configured")

	ov, err := c.Overview(ctx)
	require.NoError(t, err)
	for _, s := range ov.Streams {
		assert.Equal(t, s.Name == bus.AuditStream, s.Missing, s.Name)
	}
}

func TestWatchStreamsKeepsTheGaugesCurrent(t *testing.T) {
	b := openBus(t)
	ctx := context.Background()
	_, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: partitions, AckWait: time.Minute, MaxAckPending: 10})
	require.NoError(t, err)
	evs := publish(t, b, 12, func(i int) string { return fmt.Sprintf("C%d", i) })
	perPartition := map[string]float64{}
	for _, ev := range evs {
		perPartition[fmt.Sprint(event.Partition(ev.Platform, ev.ChatID, partitions))]++
	}

	m := metrics.New()
	w := WatchStreams(b.JS, m, 10*time.Millisecond, zaptest.NewLogger(t))
	t.Cleanup(w.Stop)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.StreamMessages.WithLabelValues(bus.EventsStream)) == 12
	}, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return testutil.CollectAndCount(m.ConsumerPending) == partitions }, 5*time.Second, 10*time.Millisecond)
	for p := range partitions {
		name, part := bus.WorkerConsumerName(p), fmt.Sprint(p)
		assert.Equal(t, perPartition[part], testutil.ToFloat64(m.ConsumerPending.WithLabelValues(bus.EventsStream, name, part)), name)
		assert.Zero(t, testutil.ToFloat64(m.ConsumerAckPending.WithLabelValues(bus.EventsStream, name, part)), name)
	}

	// A consumer that goes away leaves no stale gauge behind.
	require.NoError(t, b.JS.DeleteConsumer(ctx, bus.EventsStream, bus.WorkerConsumerName(0)))
	require.Eventually(t, func() bool { return testutil.CollectAndCount(m.ConsumerPending) == partitions-1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, partitions-1, testutil.CollectAndCount(m.ConsumerAckPending))
	w.Stop()
	w.Stop() // idempotent
}

func TestPartitionOf(t *testing.T) {
	tests := []struct {
		filter  string
		filters []string
		want    string
	}{
		{"chatwarden.events.*.*.3", nil, "3"},
		{"", []string{"chatwarden.events.livechat.*.7", "chatwarden.events.helpcrunch.*.7"}, "7"},
		{"", []string{"chatwarden.events.*.*.1", "chatwarden.events.*.*.2"}, "all"},
		{"chatwarden.events.>", nil, "all"},
		{"chatwarden.events.*.*.*", nil, "all"},
		{"", nil, "all"},
		{"other.subject.a.b.1", nil, "all"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, partitionOf(tt.filter, tt.filters), "%s %v", tt.filter, tt.filters)
	}
}

func TestOverviewReportsTheStore(t *testing.T) {
	b := openBus(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		state      bus.StoreState
		streamsErr bool // the streams cannot be read: JetStream answers nothing
		wantReason string
	}{
		{"storing", bus.StoreState{StoreMaxBytes: 15 << 20, StoreUsedBytes: 1 << 20, DiskFreeBytes: 19 << 20}, false, ""},
		{"storage full", bus.StoreState{Reason: bus.ReasonStorageFull, Cause: "no space left on device", Since: time.Now()}, false, bus.ReasonStorageFull},
		{"broker unavailable, streams unreadable", bus.StoreState{Reason: bus.ReasonBrokerUnavailable, Cause: "NATS connection is RECONNECTING"},
			true, bus.ReasonBrokerUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsole(t, b, WithStore(func() bus.StoreState { return tt.state }))
			octx := ctx
			if tt.streamsErr {
				var cancel context.CancelFunc
				octx, cancel = context.WithCancel(ctx)
				cancel() // every JetStream request fails
			}
			ov, err := c.Overview(octx)
			require.NoError(t, err, "the overview answers while the store cannot be read, to say why")
			require.NotNil(t, ov.Store)
			assert.Equal(t, tt.wantReason, ov.Store.Reason)
			assert.Equal(t, tt.state.Cause, ov.Store.Cause)
			assert.Equal(t, tt.state.StoreMaxBytes, ov.Store.StoreMaxBytes)
			assert.Equal(t, tt.streamsErr, len(ov.Streams) == 0)
		})
	}
	t.Run("without a store, unreadable streams fail", func(t *testing.T) {
		c := newConsole(t, b)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Overview(cctx)
		assert.Error(t, err)
	})
}
