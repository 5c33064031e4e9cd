package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// waitErr is a Waiter: the platform is unavailable until ready is closed.
type waitErr struct{ ready chan struct{} }

func (w waitErr) Error() string             { return "platform unavailable (circuit breaker open)" }
func (w waitErr) Ready() <-chan struct{}    { return w.ready }
func (w waitErr) wrapped() error            { return fmt.Errorf("rule r, action livechat.unpin: %w", w) }
func (w waitErr) asRetryable() error        { return consumer.Retry(consumer.Outage(w.wrapped()), 0) }
func (w waitErr) asPermanentWrapper() error { return consumer.Permanent("error", w.wrapped()) }

// TestWaitingEventsSpendNoAttempts: while the handler says the platform is
// unavailable (a consumer.Waiter, as an open circuit breaker returns), the
// event waits for it many times over workers.max_attempts without being
// dead-lettered, its chat's later event waits behind it, another chat's
// event goes on; when the platform is back both run in order. An outage
// failure that exhausts the attempts is dead-lettered marked Outage.
func TestWaitingEventsSpendNoAttempts(t *testing.T) {
	const maxAttempts = 2
	b := onePartitionBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: 2 * time.Second,
		MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)

	var mu sync.Mutex
	var order []string
	waits := 0
	ready := make(chan struct{}) // replaced each time a wait ends, until the platform is back
	back := false
	var tries []uint64 // consumer.Attempt of DOWN/1's tries
	h := consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.ChatID == "DOWN" && ev.ThreadID == "seq-1" {
			tries = append(tries, consumer.Attempt(ctx))
		}
		switch {
		case ev.ChatID == "DOWN" && !back:
			waits++
			w := waitErr{ready: ready}
			if waits < 10 {
				// Wake the waiter again at once: a probe that failed.
				close(ready)
				ready = make(chan struct{})
			}
			if waits%2 == 0 {
				return w.asPermanentWrapper() // a Waiter anywhere in the chain waits
			}
			return w.asRetryable()
		case ev.ChatID == "OUTAGE":
			return consumer.Retry(consumer.Outage(errors.New("HTTP 503")), 0)
		}
		order = append(order, ev.ChatID+"/"+strings.TrimPrefix(ev.ThreadID, "seq-"))
		return nil
	})
	runPinned(t, b, cons[0], h, 2*time.Second, consumer.WithLogger(zaptest.NewLogger(t)), consumer.WithMaxAttempts(maxAttempts),
		consumer.WithBackoff(consumer.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}))

	publish(t, b, "DOWN", 1)
	publish(t, b, "DOWN", 2)
	publish(t, b, "OTHER", 1)
	// An event auto-retried once already (dlq.auto_retry): its dead letter
	// says so.
	out := &event.Event{ID: event.ContentID([]byte("OUTAGE")), Platform: event.LiveChat, Action: "incoming_event",
		ChatID: "OUTAGE", ThreadID: "seq-1", Source: event.SourceWebhook, ReceivedAt: time.Now(), Payload: []byte(`{}`)}
	data, err := out.Marshal()
	require.NoError(t, err)
	msg := nats.NewMsg(out.Subject(1))
	msg.Data = data
	msg.Header.Set(consumer.HeaderAutoRetries, "1")
	_, err = b.JS.PublishMsg(ctx, msg)
	require.NoError(t, err)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		defer mu.Unlock()
		assert.GreaterOrEqual(c, waits, 10, "the waiting event was tried again at each wake-up")
		assert.Equal(c, []string{"OTHER/1"}, order, "another chat goes on; the waiting chat's later event waits")
	}, 30*time.Second, 20*time.Millisecond)

	mu.Lock()
	back = true
	close(ready)
	mu.Unlock()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		assert.Equal(c, []string{"OTHER/1", "DOWN/1", "DOWN/2"}, order, "back: the chat's events in order")
		mu.Unlock()
		info, err := cons[0].Info(ctx)
		if assert.NoError(c, err) {
			assert.Zero(c, info.NumAckPending, "all settled")
		}
	}, 30*time.Second, 20*time.Millisecond, "generous: acks and a dead letter on 2 cores under -race")

	mu.Lock()
	for i := 1; i < len(tries); i++ {
		assert.Greater(t, tries[i], tries[i-1], "each try after a wait may repeat a call: the handler is told (%v)", tries)
	}
	mu.Unlock()
	dls, err := consumer.ReadDeadLetters(ctx, b.JS)
	require.NoError(t, err)
	require.Len(t, dls, 1, "only the outage failure that exhausted its attempts is dead-lettered, not the waiting one")
	assert.Equal(t, "OUTAGE", dls[0].ChatID)
	assert.Equal(t, consumer.ReasonExhausted, dls[0].Reason)
	assert.True(t, dls[0].Outage, "marked as an outage, for dlq.auto_retry")
	assert.Equal(t, 1, dls[0].AutoRetries, "the count of automatic retries is kept")
}

// TestStopHandsWaitingEventsBackAtOnce: a graceful stop does not wait for an
// outage to end: an event waiting for its platform, and the later events of
// its chat, are handed back to the broker at once (none of the later ones
// runs before it), and the next runner applies them in order once the
// platform is back.
func TestStopHandsWaitingEventsBackAtOnce(t *testing.T) {
	b := onePartitionBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: 2 * time.Second,
		MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)

	var mu sync.Mutex
	var order []string
	waiting := 0
	down := waitErr{ready: make(chan struct{})} // never ready: the outage outlasts the first runner
	h := func(platformUp bool) consumer.Handler {
		return consumer.HandlerFunc(func(_ context.Context, ev *event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if !platformUp && ev.ThreadID == "seq-1" {
				waiting++
				return down.asRetryable()
			}
			order = append(order, ev.ChatID+"/"+strings.TrimPrefix(ev.ThreadID, "seq-"))
			return nil
		})
	}
	r, err := consumer.New([]jetstream.Consumer{cons[0]}, h(false), consumer.JetStreamDeadLetters{JS: b.JS},
		consumer.WithPriorityGroup(bus.WorkerGroup), consumer.WithAckWait(2*time.Second), consumer.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	require.NoError(t, r.Start())
	publish(t, b, "A", 1)
	publish(t, b, "A", 2)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(c, 1, waiting, "A/1 waits for its platform")
	}, 30*time.Second, 20*time.Millisecond)

	stopCtx, stopCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer stopCancel()
	start := time.Now()
	require.NoError(t, r.Stop(stopCtx), "a graceful stop, not one cut short by its deadline")
	assert.Less(t, time.Since(start), 10*time.Second, "generous: it does not wait for the outage")
	mu.Lock()
	assert.Empty(t, order, "A/2 did not overtake A/1")
	mu.Unlock()

	runPinned(t, b, cons[0], h(true), 2*time.Second, consumer.WithLogger(zaptest.NewLogger(t)))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(c, []string{"A/1", "A/2"}, order)
	}, 30*time.Second, 20*time.Millisecond, "generous: the handed-back events are redelivered at once, the pin may take its TTL")
}
