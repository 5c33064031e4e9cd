package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

func settings(partitions int) bus.StreamSettings {
	return bus.StreamSettings{Partitions: partitions, DuplicateWindow: time.Minute, Retention: time.Hour, Replicas: 1}
}

func open(t *testing.T, cfg config.NATS, opts ...bus.Option) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, append([]bus.Option{bus.WithLogger(zaptest.NewLogger(t))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, settings(16)))
	return b
}

func testEvent(chat string) *event.Event {
	return &event.Event{
		ID: event.ContentID([]byte(chat)), Platform: event.LiveChat, Action: "chat_deactivated",
		ChatID: chat, Source: event.SourceWebhook, ReceivedAt: time.Now().UTC(), Payload: []byte(`{"chat_id":"` + chat + `"}`),
	}
}

func TestEmbeddedPublishDedupAndReady(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	ctx := context.Background()
	require.True(t, b.Embedded())
	assert.NotEmpty(t, b.ClientURL(), "the embedded server listens for the nats CLI")
	require.NoError(t, b.Ready(ctx))

	dup, err := b.Publish(ctx, testEvent("C1"))
	require.NoError(t, err)
	assert.False(t, dup)
	dup, err = b.Publish(ctx, testEvent("C1"))
	require.NoError(t, err)
	assert.True(t, dup, "same id within the duplicate window")
	_, err = b.Publish(ctx, testEvent("C2"))
	require.NoError(t, err)

	s, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs)
	assert.Equal(t, time.Minute, info.Config.Duplicates)
	assert.Equal(t, time.Hour, info.Config.MaxAge)
}

// TestDefaultsAreTheConfigurations: a bus opened without WithPartitions
// and with a zero nats section spreads events over the default
// nats.partitions and names its connection the default nats.name; the
// defaults live in one place, package config.
func TestDefaultsAreTheConfigurations(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir(), Listen: "off"})
	assert.Equal(t, config.Default().NATS.Partitions, b.Partitions(), "nats.partitions")
	assert.Equal(t, config.Default().NATS.Name, b.Conn.Opts.Name, "nats.name")
}

func TestEmbeddedWithoutListener(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir(), Listen: "off"})
	assert.Empty(t, b.ClientURL())
	_, err := b.Publish(context.Background(), testEvent("C1"))
	require.NoError(t, err)
}

func TestEmbeddedListenInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = bus.Open(context.Background(), config.NATS{DataDir: t.TempDir(), Listen: l.Addr().String()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nats.listen")
	assert.Contains(t, err.Error(), "already in use")
}

func TestProvisionIdempotentAndPartitionsFixed(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir(), Listen: "off"})
	ctx := context.Background()
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, settings(16)), "second provisioning is a no-op")
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 16, AckWait: time.Second, MaxAckPending: 100})
	require.NoError(t, err)
	require.Len(t, cons, 16)
	cons, err = bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 16, AckWait: 2 * time.Second, MaxAckPending: 100, PinnedTTL: 20 * time.Second})
	require.NoError(t, err, "consumer settings may change between starts")
	info := cons[3].CachedInfo()
	assert.Equal(t, "chatwarden-workers-p3", info.Name)
	assert.Equal(t, "chatwarden.events.*.*.3", info.Config.FilterSubject)
	assert.Equal(t, jetstream.PriorityPolicyPinned, info.Config.PriorityPolicy)
	assert.Equal(t, []string{bus.WorkerGroup}, info.Config.PriorityGroups)
	assert.Equal(t, 20*time.Second, info.Config.PinnedTTL)
	assert.Equal(t, 2*time.Second, info.Config.AckWait)
	idle, err := bus.WorkersIdle(ctx, b.JS, 16)
	require.NoError(t, err)
	assert.True(t, idle)
	_, err = b.Publish(ctx, testEvent("C1"))
	require.NoError(t, err)
	idle, err = bus.WorkersIdle(ctx, b.JS, 16)
	require.NoError(t, err)
	assert.False(t, idle, "an event is pending")

	err = bus.ProvisionStreams(ctx, b.JS, settings(8))
	require.ErrorIs(t, err, bus.ErrPartitionsChanged)
	assert.Contains(t, err.Error(), "nats.partitions is 8")

	for _, name := range []string{bus.EventsStream, bus.DeadLetterStream, bus.AuditStream} {
		_, err := b.JS.Stream(ctx, name)
		assert.NoError(t, err, name)
	}
}

func TestExternalServerStopAndRestart(t *testing.T) {
	srv := bustest.Start(t)
	b := open(t, config.NATS{URL: srv.URL()})
	ctx := context.Background()
	_, err := b.Publish(ctx, testEvent("C1"))
	require.NoError(t, err)

	ready := func() error {
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		return b.Ready(ctx)
	}
	srv.Stop()
	require.Eventually(t, func() bool { return ready() != nil }, 5*time.Second, 20*time.Millisecond)
	// Publishing while disconnected fails at once, for that reason, rather
	// than waiting for an acknowledgement that cannot come: judged by the
	// cause and by the context (the server stays down until this call has
	// returned), not by a clock.
	pubCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = b.Publish(pubCtx, testEvent("C2"))
	require.ErrorIs(t, err, bus.ErrNotConnected)
	assert.NoError(t, pubCtx.Err(), "failed before the deadline")

	srv.Restart()
	require.Eventually(t, func() bool { return ready() == nil }, 10*time.Second, 50*time.Millisecond)
	_, err = b.Publish(ctx, testEvent("C2"))
	require.NoError(t, err)
}

func TestExternalUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := bus.Open(ctx, config.NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", bustest.FreePort(t))})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Contains(t, err.Error(), "nats.url")
}
