package consumer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// crashingConsumer stands for workers that crashed while holding an event:
// each delivery of the event with id crashID up to the crashes-th is handed
// back to the broker (nak) without reaching the runner, so the broker counts
// it delivered and delivers it again.
type crashingConsumer struct {
	jetstream.Consumer
	crashID string
	crashes uint64
}

func (c crashingConsumer) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	return c.Consumer.Consume(func(msg jetstream.Msg) {
		md, err := msg.Metadata()
		if err == nil && msg.Headers().Get(jetstream.MsgIDHeader) == c.crashID && md.NumDelivered <= c.crashes {
			_ = msg.Nak()
			return
		}
		h(msg)
	}, opts...)
}

// TestDeliveryPastMaxAttemptsIsDeadLetteredUnhandled: an event whose earlier
// deliveries crashed the worker arrives with a delivery count above
// workers.max_attempts. It goes straight to the dead letters with reason
// attempts_exhausted naming the delivery count, and the handler never runs
// for it (it could be the event that crashes the worker); another chat's
// event is handled as usual.
func TestDeliveryPastMaxAttemptsIsDeadLetteredUnhandled(t *testing.T) {
	const maxAttempts, crashes = 2, 3
	b := onePartitionBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: 2 * time.Second,
		MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	var mu sync.Mutex
	handled := map[string]int{}
	h := consumer.HandlerFunc(func(_ context.Context, ev *event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		handled[ev.ChatID]++
		return nil
	})
	runPinned(t, b, crashingConsumer{Consumer: cons[0], crashID: event.ContentID([]byte("CRASH"), []byte("1")), crashes: crashes}, h, 2*time.Second,
		consumer.WithLogger(zaptest.NewLogger(t)), consumer.WithMaxAttempts(maxAttempts),
		consumer.WithBackoff(consumer.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}))

	publish(t, b, "CRASH", 1)
	publish(t, b, "OK", 1)

	// Both settled: the crashing one is dead-lettered before it is
	// terminated, so its dead letter is stored by then.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		assert.Equal(c, 1, handled["OK"])
		mu.Unlock()
		info, err := cons[0].Info(ctx)
		if assert.NoError(c, err) {
			assert.Zero(c, info.NumAckPending, "both events settled")
			assert.Zero(c, info.NumPending)
		}
	}, 30*time.Second, 20*time.Millisecond, "generous: a dead letter and an ack on 2 cores under -race")
	mu.Lock()
	assert.Zero(t, handled["CRASH"], "the handler never runs for a delivery past max_attempts")
	mu.Unlock()
	dls, err := consumer.ReadDeadLetters(ctx, b.JS)
	require.NoError(t, err)
	require.Len(t, dls, 1)
	dl := dls[0]
	assert.Equal(t, "CRASH", dl.ChatID)
	assert.Equal(t, consumer.ReasonExhausted, dl.Reason)
	assert.Equal(t, uint64(crashes+1), dl.Attempts)
	assert.Contains(t, dl.Error, "delivered 4 times")
	assert.Contains(t, dl.Error, "workers.max_attempts=2")
}
