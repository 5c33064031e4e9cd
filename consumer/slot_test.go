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

// ackHolder delivers messages whose DoubleAck waits for release when hold
// says so (the broker's confirmation is slow to come).
type ackHolder struct {
	jetstream.Consumer
	hold    func(jetstream.Msg) bool
	waiting chan struct{} // a held ack is waiting
	release chan struct{}
}

func (c ackHolder) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	return c.Consumer.Consume(func(msg jetstream.Msg) { h(heldAckMsg{Msg: msg, c: c}) }, opts...)
}

type heldAckMsg struct {
	jetstream.Msg
	c ackHolder
}

func (m heldAckMsg) DoubleAck(ctx context.Context) error {
	if m.c.hold(m.Msg) {
		m.c.waiting <- struct{}{}
		<-m.c.release
	}
	return m.Msg.DoubleAck(ctx)
}

// TestAckConfirmationHoldsNoSlot: with one slot, chat A's first event is
// handled and its ack's confirmation is slow; chat B's event is handled
// meanwhile (the wait holds no slot), while A's second event waits for the
// confirmation (its chat's order).
func TestAckConfirmationHoldsNoSlot(t *testing.T) {
	b := onePartitionBus(t)
	ctx := context.Background()
	const ackWait = 30 * time.Second
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	holder := ackHolder{Consumer: cons[0], waiting: make(chan struct{}, 1), release: make(chan struct{}),
		hold: func(m jetstream.Msg) bool {
			ev, err := event.Unmarshal(m.Data())
			return err == nil && ev.ChatID == "A" && ev.ThreadID == "seq-1"
		}}
	var once sync.Once
	release := func() { once.Do(func() { close(holder.release) }) }
	calls := &handled{}
	runPinned(t, b, holder, consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
		calls.add(ev, consumer.Attempt(ctx))
		return nil
	}), ackWait, consumer.WithConcurrency(1), consumer.WithLogger(zaptest.NewLogger(t)))
	t.Cleanup(release) // before the runner stops: a failing test does not leave the ack waiting

	publish(t, b, "A", 1)
	select {
	case <-holder.waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("A's first event was not handled")
	}
	publish(t, b, "A", 2)
	publish(t, b, "B", 1)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, []string{"A#1/1", "B#1/1"}, calls.list(), "B runs while A's ack waits; A's next event does not")
	}, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"A#1/1", "B#1/1"}, calls.list(), "A's second event waits for the confirmation")

	release()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, []string{"A#1/1", "B#1/1", "A#2/1"}, calls.list())
	}, 30*time.Second, 10*time.Millisecond)
}
