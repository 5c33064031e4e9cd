package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

// TestLastingFaultIsRemindedNotRepeated: a fault is logged at WARN once when
// it begins, then reminded every storeReminderEvery (shortened here), and
// its end once; refused publishes add no lines.
func TestLastingFaultIsRemindedNotRepeated(t *testing.T) {
	saved := storeReminderEvery
	storeReminderEvery = 100 * time.Millisecond // before Open starts the watch
	core, logs := observer.New(zapcore.InfoLevel)
	b, err := Open(context.Background(), config.NATS{DataDir: t.TempDir(), Listen: "off"}, WithLogger(zap.New(core)))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = b.Close(context.Background()) // stops the watch before the variable is restored
		storeReminderEvery = saved
	})

	b.setFault(faultLimit, errors.New("nats: API error: code=503 err_code=10023 description=insufficient resources"))
	b.store.mu.Lock()
	b.store.probeAt = time.Now().Add(time.Hour) // no probe publish ends the fault in this test
	b.store.mu.Unlock()
	for range 20 {
		_, err := b.Publish(context.Background(), &event.Event{ID: event.ContentID([]byte("C1")), Platform: event.LiveChat,
			Action: "chat_deactivated", ChatID: "C1", Source: event.SourceWebhook, ReceivedAt: time.Now().UTC(), Payload: []byte(`{}`)})
		require.ErrorIs(t, err, ErrStorageFull)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, logs.FilterMessageSnippet("still cannot store").Len(), 2)
	}, 5*time.Second, 20*time.Millisecond)
	began := logs.FilterMessageSnippet("the broker cannot store events").All()
	require.Len(t, began, 1, "one line when it began, none per refused publish")
	assert.Equal(t, zapcore.WarnLevel, began[0].Level)
	assert.Equal(t, ReasonStorageFull, began[0].ContextMap()["reason"])
	for _, e := range logs.FilterMessageSnippet("still cannot store").All() {
		assert.Equal(t, zapcore.WarnLevel, e.Level)
	}

	b.clearFault("test")
	assert.Equal(t, 1, logs.FilterMessage("the broker stores events again").Len())
}

// TestDisabledJetStreamIsRestarted: when the embedded server turns its
// JetStream off (as it does after a permission error while writing), the
// store is refused at once and heals by itself with what it stored intact.
func TestDisabledJetStreamIsRestarted(t *testing.T) {
	b, err := Open(context.Background(), config.NATS{DataDir: t.TempDir(), Listen: "off"}, WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	ctx := context.Background()
	require.NoError(t, ProvisionStreams(ctx, b.JS, StreamSettings{Partitions: 4, DuplicateWindow: time.Minute, Retention: time.Hour}))
	ev := func(chat string) *event.Event {
		return &event.Event{ID: event.ContentID([]byte(chat)), Platform: event.LiveChat, Action: "chat_deactivated", ChatID: chat,
			Source: event.SourceWebhook, ReceivedAt: time.Now().UTC(), Payload: []byte(`{}`)}
	}
	for i := range 10 {
		_, err := b.Publish(ctx, ev(fmt.Sprint("before-", i)))
		require.NoError(t, err)
	}

	require.NoError(t, b.server().ShutdownJetStream())
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		start := time.Now()
		_, err := b.Publish(ctx, ev("during"))
		assert.ErrorIs(c, err, ErrStorageFull)
		assert.Less(c, time.Since(start), 300*time.Millisecond, "refused at once")
	}, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, b.StoreState().Cause, "JetStream is disabled")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := b.Publish(ctx, ev("after"))
		assert.NoError(c, err)
	}, 20*time.Second, 50*time.Millisecond, "restarted by itself")
	s, err := b.JS.Stream(ctx, EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, info.State.Msgs, uint64(11), "the ten stored before, and the one after")
	assert.NoError(t, b.Ready(ctx))
}
