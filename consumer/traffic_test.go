package consumer_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// TestBrokerTrafficPerEvent counts, on the wire, what the workers send the
// broker for a backlog of events: exactly one acknowledgement per event, and
// pull requests in batches, fewer than one per event (2 x concurrency /
// partitions = 4 at a time here, asked again when 2 have arrived: about one
// per 2 or 3 events).
func TestBrokerTrafficPerEvent(t *testing.T) {
	const events = 400
	srv := bustest.Start(t)
	sniff, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer sniff.Close()
	var pulls, acks atomic.Int64
	_, err = sniff.Subscribe("$JS.API.CONSUMER.MSG.NEXT."+bus.EventsStream+".>", func(*nats.Msg) { pulls.Add(1) })
	require.NoError(t, err)
	_, err = sniff.Subscribe("$JS.ACK.>", func(m *nats.Msg) {
		if bytes.HasPrefix(m.Data, []byte("+ACK")) {
			acks.Add(1)
		}
	})
	require.NoError(t, err)
	require.NoError(t, sniff.Flush())

	ctx := context.Background()
	pub, err := bus.Open(ctx, config.NATS{URL: srv.URL()}, bus.WithPartitions(partitions), bus.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, pub.JS, bus.StreamSettings{Partitions: partitions, DuplicateWindow: time.Minute, Retention: time.Hour}))
	for i := range events {
		publish(t, pub, fmt.Sprintf("chat-%d", i), 1)
	}

	a := newApplied()
	startReplica(t, srv.URL(), a.handler("r1", nil))
	// Bounded by events: every event applied and acknowledged (the limit
	// only guards a hang; 400 events take well under a second).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		a.mu.Lock()
		n := len(a.done)
		a.mu.Unlock()
		assert.Equal(c, events, n)
		assert.EqualValues(c, events, acks.Load())
	}, 60*time.Second, 20*time.Millisecond)
	require.NoError(t, sniff.Flush())
	assert.EqualValues(t, events, acks.Load(), "one acknowledgement per event")
	assert.Less(t, pulls.Load(), int64(events), "pull requests for %d events", events)
	t.Logf("%d events: %d pull requests, %d acknowledgements", events, pulls.Load(), acks.Load())
}

// goroutineID is the id of the calling goroutine, from its stack header
// ("goroutine 42 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return string(bytes.Fields(buf)[1])
}

// TestChainsReuseGoroutines: chats whose events come one after another are
// handled on a few goroutines that each grew their stack once, not on a new
// one per chat. (A few, not one: an event may arrive while the goroutine
// that handled the previous one is still finishing it; each next event is
// published once the previous one's acknowledgement went out, which makes
// that rare. Without reuse every chat takes a goroutine of its own.)
func TestChainsReuseGoroutines(t *testing.T) {
	const chats = 30
	srv := bustest.Start(t)
	var mu sync.Mutex
	ids := map[string]bool{}
	var handled, acks atomic.Int64
	sniff, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer sniff.Close()
	_, err = sniff.Subscribe("$JS.ACK.>", func(m *nats.Msg) {
		if bytes.HasPrefix(m.Data, []byte("+ACK")) {
			acks.Add(1)
		}
	})
	require.NoError(t, err)
	require.NoError(t, sniff.Flush())
	h := consumer.HandlerFunc(func(context.Context, *event.Event) error {
		mu.Lock()
		ids[goroutineID()] = true
		mu.Unlock()
		handled.Add(1)
		return nil
	})
	rep := startReplica(t, srv.URL(), h)
	for i := range chats {
		publish(t, rep.bus, fmt.Sprintf("chat-%d", i), 1)
		// Bounded by events: the next is published once this one is handled.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.EqualValues(c, i+1, handled.Load())
			assert.EqualValues(c, i+1, acks.Load())
		}, 30*time.Second, time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d chats one after another: %d goroutines", chats, len(ids))
	assert.Less(t, len(ids), chats*2/3, "goroutines that handled %d chats one after another", chats)
}
