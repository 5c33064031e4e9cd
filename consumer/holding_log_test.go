package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
)

// TestFirstEventOfAPartitionLogsNoHoldingAtInfo: a lone replica's first
// event of each partition is held only for the check that nothing is
// pending elsewhere; with nothing to wait for, "holding ended" is logged at
// debug, not at info for every partition.
func TestFirstEventOfAPartitionLogsNoHoldingAtInfo(t *testing.T) {
	srv := bustest.Start(t)
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{URL: srv.URL()}, bus.WithPartitions(partitions), bus.WithLogger(zap.NewNop()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: partitions, DuplicateWindow: time.Minute, Retention: time.Hour}))
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: partitions, AckWait: 2 * time.Second, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	core, logs := observer.New(zapcore.DebugLevel)
	a := newApplied()
	runRunner(t, b, cons, a.handler("r1", nil), consumer.WithPriorityGroup(bus.WorkerGroup),
		consumer.WithConcurrency(8), consumer.WithAckWait(2*time.Second), consumer.WithMaxAttempts(10),
		consumer.WithLogger(zap.New(core)))
	chats := []string{"A", "B", "C", "D", "E", "F", "G", "H"}
	for _, chat := range chats {
		publish(t, b, chat, 1)
	}
	// Generous: -race on 2 cores.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, chat := range chats {
			assert.Len(c, a.chats(chat), 1, chat)
		}
	}, 15*time.Second, 10*time.Millisecond)
	ended := logs.FilterMessageSnippet("holding ended")
	assert.NotZero(t, ended.Len(), "the end of each first hold is still logged, at debug")
	for _, e := range ended.All() {
		assert.Equal(t, zapcore.DebugLevel, e.Level, "nothing was pending elsewhere: %v", e.ContextMap())
	}
}
