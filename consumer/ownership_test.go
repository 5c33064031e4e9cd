package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// link is a replica's connection to the broker, which the test can cut
// without the broker noticing at once, as a network partition does: while
// it is cut, deliveries wait on the way (the broker sent them), keepalives,
// acks and naks are lost (sending them succeeds), a confirmed ack times out
// and the consumer's info cannot be had. The real pulls go on (the broker
// still sees the replica pulling). When it heals, everything flows again;
// the deliveries that waited are handed over only by flush, late, as when
// they wait in the client while the runner is busy.
type link struct {
	mu     sync.Mutex
	down   bool
	queued []func()

	delivered, infos atomic.Int64
}

func (l *link) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

func (l *link) cut() {
	l.mu.Lock()
	l.down = true
	l.mu.Unlock()
}

func (l *link) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = false
}

// flush hands the deliveries that waited over.
func (l *link) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queued) > 0 {
		f := l.queued[0]
		l.queued = l.queued[1:]
		l.mu.Unlock()
		f()
		l.mu.Lock()
	}
}

// cutConsumer is a real consumer reached over l.
type cutConsumer struct {
	jetstream.Consumer
	l *link
}

var errCut = errors.New("cut off from the broker (test)")

func (c cutConsumer) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	return c.Consumer.Consume(func(msg jetstream.Msg) {
		deliver := func() {
			c.l.delivered.Add(1)
			h(cutMsg{Msg: msg, l: c.l})
		}
		c.l.mu.Lock()
		if c.l.down {
			c.l.queued = append(c.l.queued, deliver)
			c.l.mu.Unlock()
			return
		}
		c.l.mu.Unlock()
		deliver()
	}, opts...)
}

func (c cutConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c.l.infos.Add(1)
	if c.l.isDown() {
		return nil, errCut
	}
	return c.Consumer.Info(ctx)
}

type cutMsg struct {
	jetstream.Msg
	l *link
}

func (m cutMsg) lost() bool { return m.l.isDown() }

func (m cutMsg) Ack() error {
	if m.lost() {
		return nil
	}
	return m.Msg.Ack()
}

func (m cutMsg) DoubleAck(ctx context.Context) error {
	if m.lost() {
		return fmt.Errorf("confirming an ack: %w", errCut)
	}
	return m.Msg.DoubleAck(ctx)
}

func (m cutMsg) Nak() error {
	if m.lost() {
		return nil
	}
	return m.Msg.Nak()
}

func (m cutMsg) NakWithDelay(d time.Duration) error {
	if m.lost() {
		return nil
	}
	return m.Msg.NakWithDelay(d)
}

func (m cutMsg) InProgress() error {
	if m.lost() {
		return nil
	}
	return m.Msg.InProgress()
}

func (m cutMsg) Term() error {
	if m.lost() {
		return nil
	}
	return m.Msg.Term()
}

func (m cutMsg) TermWithReason(reason string) error {
	if m.lost() {
		return nil
	}
	return m.Msg.TermWithReason(reason)
}

// handled is what a replica's handler was called with: "A#2/1" is chat A's
// second event on its first delivery.
type handled struct {
	mu    sync.Mutex
	calls []string
}

func (h *handled) add(ev *event.Event, attempt uint64) {
	var seq int
	_, _ = fmt.Sscanf(ev.ThreadID, "seq-%d", &seq)
	h.mu.Lock()
	h.calls = append(h.calls, fmt.Sprintf("%s#%d/%d", ev.ChatID, seq, attempt))
	h.mu.Unlock()
}

func (h *handled) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// blockingHandler records every call; chat A's first event blocks until
// release is closed (a call in flight), after closing started.
func blockingHandler(h *handled, started, release chan struct{}) consumer.Handler {
	var once sync.Once
	return consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
		h.add(ev, consumer.Attempt(ctx))
		if ev.ChatID == "A" && ev.ThreadID == "seq-1" {
			once.Do(func() { close(started); <-release })
		}
		return nil
	})
}

// TestCutOffReplicaDoesNotRunItsQueuedEvents: a replica is busy with chat
// A's first event (a call in flight, or a failure it retries in place) with
// A's next four queued behind it when it is cut off from the broker. Its
// keepalives no longer arrive, the ack wait runs out and the broker gives
// the events out again (to whichever replica pulls them: here its own
// pulls, whose deliveries are lost). The replica must not act on what it
// holds from before any more: no further retry, no queued event started,
// not even once it is joined again and its keepalives arrive (too late).
// Nor on deliveries that waited on the way during the cut and arrive once it
// heals (chat B's), after the broker gave them out again. The events run on
// their redelivery, once, in order.
func TestCutOffReplicaDoesNotRunItsQueuedEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		// How A's first event is handled until released: blocking and
		// deaf to its context, blocking until its context is cancelled,
		// or failing (retryably).
		deaf, retry bool
	}{
		{name: "a call in flight, deaf to its context", deaf: true},
		{name: "a call in flight", deaf: false},
		{name: "a retry waiting", retry: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := onePartitionBus(t)
			ctx := context.Background()
			const ackWait = 2 * time.Second
			cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
			require.NoError(t, err)
			l := &link{}
			calls := &handled{}
			var firstCalls atomic.Int64 // calls with A's first event
			var cancelled atomic.Bool   // A's first event's context was cancelled
			started, release := make(chan struct{}), make(chan struct{})
			var startOnce, releaseOnce sync.Once
			t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
			h := consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
				if ev.ChatID == "A" && ev.ThreadID == "seq-1" {
					firstCalls.Add(1)
					startOnce.Do(func() { close(started) })
					select {
					case <-release:
					default:
						switch {
						case tc.retry:
							return errors.New("temporary failure")
						case tc.deaf:
							<-release
						default:
							select {
							case <-release:
							case <-ctx.Done():
								cancelled.Store(true)
								return ctx.Err()
							}
						}
					}
				}
				calls.add(ev, consumer.Attempt(ctx))
				return nil
			})
			runRunner(t, b, []jetstream.Consumer{cutConsumer{Consumer: cons[0], l: l}}, h,
				consumer.WithPriorityGroup(bus.WorkerGroup), consumer.WithConcurrency(8), consumer.WithAckWait(ackWait),
				consumer.WithMaxAttempts(1000), consumer.WithBackoff(consumer.Backoff{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}),
				consumer.WithLogger(zaptest.NewLogger(t)))

			for seq := 1; seq <= 5; seq++ {
				publish(t, b, "A", seq)
			}
			select {
			case <-started:
			case <-time.After(15 * time.Second): // generous: -race on 2 busy cores
				t.Fatal("A's first event did not start")
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.EqualValues(c, 5, l.delivered.Load(), "A's five events reached the replica")
			}, 15*time.Second, 10*time.Millisecond)

			l.cut()
			// Chat B's event comes meanwhile: its deliveries wait on the way.
			publish(t, b, "B", 1)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				info, err := cons[0].Info(ctx)
				if assert.NoError(c, err) {
					assert.GreaterOrEqual(c, info.NumRedelivered, 6, "A's events and B's redelivered after their ack wait")
				}
			}, 30*time.Second, 50*time.Millisecond)
			// keepalive rounds: each asks for the consumer's info once
			rounds := func(n int64) {
				t.Helper()
				from := l.infos.Load()
				require.EventuallyWithT(t, func(c *assert.CollectT) {
					assert.GreaterOrEqual(c, l.infos.Load()-from, n, "keepalive rounds")
				}, 30*time.Second, 20*time.Millisecond)
			}
			if tc.retry {
				before := firstCalls.Load()
				rounds(3)
				assert.Equal(t, before, firstCalls.Load(), "no retry of A's first event once the broker may have given it to another replica")
			}
			if !tc.deaf && !tc.retry {
				require.EventuallyWithT(t, func(c *assert.CollectT) {
					assert.True(c, cancelled.Load(), "the handler's context is cancelled")
				}, 10*time.Second, 20*time.Millisecond, "a handler running for an event the broker may have given to another replica is cancelled while cut off")
			}

			// Joined again: the keepalives arrive, too late; the deliveries
			// sent meanwhile are handed over later still, when the broker
			// answers again.
			l.heal()
			rounds(2)
			l.flush()
			releaseOnce.Do(func() { close(release) })
			chat := func(prefix string) (out []string) {
				for _, call := range calls.list() {
					if strings.HasPrefix(call, prefix) {
						out = append(out, call)
					}
				}
				return out
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				got := chat("A#")
				if assert.NotEmpty(c, got) {
					assert.Contains(c, got[len(got)-1], "A#5/", "A's last event applied")
				}
				assert.NotEmpty(c, chat("B#"), "B's event applied")
			}, 30*time.Second, 20*time.Millisecond)
			assert.Len(t, chat("B#"), 1, "B's event runs once: not on the deliveries that waited on the way, which came after the broker had given it out again")
			got := chat("A#")
			last := 0
			runs := map[int]int{}
			for _, call := range got {
				var seq int
				var attempt uint64
				_, err := fmt.Sscanf(call, "A#%d/%d", &seq, &attempt)
				require.NoError(t, err)
				assert.GreaterOrEqual(t, seq, last, "A's events in order: %v", got)
				last = seq
				if runs[seq]++; seq > 1 {
					assert.Equal(t, 1, runs[seq], "%s: the events queued when the replica was cut off run once (%v)", call, got)
					assert.GreaterOrEqual(t, attempt, uint64(2), "%s: the events queued when the replica was cut off run only on their redelivery (%v)", call, got)
				}
			}
		})
	}
}

// pinReporter is a real consumer whose info, while elsewhere holds a name,
// says the broker pinned that client: what a replica sees when the broker
// gave its partition to another replica.
type pinReporter struct {
	jetstream.Consumer
	elsewhere *atomic.Value // string
	infos     *atomic.Int64
}

func (c pinReporter) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c.infos.Add(1)
	info, err := c.Consumer.Info(ctx)
	if err != nil {
		return nil, err
	}
	if other, _ := c.elsewhere.Load().(string); other != "" {
		out := *info
		out.PriorityGroups = []jetstream.PriorityGroupState{{Group: bus.WorkerGroup, PinnedClientID: other, PinnedTS: time.Now()}}
		return &out, nil
	}
	return info, nil
}

// TestPinTakenByAnotherReplicaLeavesQueuedEvents: while a replica runs chat
// A's first event with A's next four queued, the broker pins the partition
// to another replica (as a leader change or a late pull can). The queued
// events were received under the pin this replica lost: it leaves them to
// their redelivery, and runs them then, in order, once the partition is
// back.
func TestPinTakenByAnotherReplicaLeavesQueuedEvents(t *testing.T) {
	b := onePartitionBus(t)
	ctx := context.Background()
	const ackWait = 2 * time.Second
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	var elsewhere atomic.Value
	var infos, delivered atomic.Int64
	spy := lossyConsumer{Consumer: pinReporter{Consumer: cons[0], elsewhere: &elsewhere, infos: &infos}, drop: func(jetstream.Msg) bool {
		delivered.Add(1)
		return false
	}}
	calls := &handled{}
	started, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	runPinned(t, b, spy, blockingHandler(calls, started, release), ackWait, consumer.WithMaxAttempts(50),
		consumer.WithLogger(zaptest.NewLogger(t)))

	for seq := 1; seq <= 5; seq++ {
		publish(t, b, "A", seq)
	}
	select {
	case <-started:
	case <-time.After(15 * time.Second): // generous: -race on 2 busy cores
		t.Fatal("A's first event did not start")
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.EqualValues(c, 5, delivered.Load(), "A's five events reached the replica")
	}, 15*time.Second, 10*time.Millisecond)

	elsewhere.Store("another-replica")
	from := infos.Load()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, infos.Load()-from, int64(3), "keepalive rounds see the pin elsewhere")
	}, 30*time.Second, 20*time.Millisecond)
	releaseOnce.Do(func() { close(release) })
	// The partition comes back once A's first event is done with: the other
	// replica is gone.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NotEmpty(c, calls.list())
	}, 15*time.Second, 10*time.Millisecond)
	elsewhere.Store("")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, calls.list(), 5)
	}, 30*time.Second, 20*time.Millisecond)
	got := calls.list()
	var order []int
	for i, call := range got {
		var seq int
		var attempt uint64
		_, err := fmt.Sscanf(call, "A#%d/%d", &seq, &attempt)
		require.NoError(t, err)
		order = append(order, seq)
		if seq >= 2 {
			assert.GreaterOrEqual(t, attempt, uint64(2), "call %d (%s): A's queued events run only on their redelivery", i+1, call)
		}
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5}, order, "A's events once each, in order: %v", got)
}

// ackLoser is a real consumer whose deliveries' acks are lost while lose
// says so for the delivery: unanswered (a broker node failing over, or cut
// off), or, with confirmed set, confirmed and yet forgotten (a consumer
// leader that confirmed it and then lost its state: the broker redelivers
// the event after the ack wait).
type ackLoser struct {
	jetstream.Consumer
	lose      func(jetstream.Msg) bool
	confirmed bool
}

func (c ackLoser) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	return c.Consumer.Consume(func(msg jetstream.Msg) { h(ackLosingMsg{Msg: msg, c: c}) }, opts...)
}

type ackLosingMsg struct {
	jetstream.Msg
	c ackLoser
}

func (m ackLosingMsg) DoubleAck(ctx context.Context) error {
	switch {
	case !m.c.lose(m.Msg):
		return m.Msg.DoubleAck(ctx)
	case m.c.confirmed:
		return nil
	default:
		return fmt.Errorf("confirming an ack: %w", context.DeadlineExceeded)
	}
}

// TestUnconfirmedAckHoldsTheChatsLaterEvents: chat A's first event is
// handled but its acknowledgement is never confirmed (nor received), so the
// broker redelivers it. A's later events must not run before that
// redelivery: they wait for theirs, and A's events are applied in order
// (the first one twice, which a redelivery may do).
func TestUnconfirmedAckHoldsTheChatsLaterEvents(t *testing.T) {
	b := onePartitionBus(t)
	ctx := context.Background()
	const ackWait = time.Second
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	lose := func(m jetstream.Msg) bool {
		ev, err := event.Unmarshal(m.Data())
		md, mdErr := m.Metadata()
		return err == nil && mdErr == nil && ev.ChatID == "A" && ev.ThreadID == "seq-1" && md.NumDelivered == 1
	}
	calls := &handled{}
	started, release := make(chan struct{}), make(chan struct{})
	close(release) // A's first event does not block
	runPinned(t, b, ackLoser{Consumer: cons[0], lose: lose}, blockingHandler(calls, started, release), ackWait,
		consumer.WithMaxAttempts(50), consumer.WithLogger(zaptest.NewLogger(t)))
	for seq := 1; seq <= 3; seq++ {
		publish(t, b, "A", seq)
	}
	// Confirming the lost ack takes 4 attempts of 3s: generous bounds.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, calls.list(), 4, "A's three events applied, and the first one's redelivery")
	}, 60*time.Second, 20*time.Millisecond)
	order := chatAOrder(t, calls)
	assert.True(t, slices.IsSorted(order), "A's events in order, a redelivered one again before the later ones: %v", calls.list())
	assert.Equal(t, []int{1, 1, 2, 3}, order, "the first event again on its redelivery, then the others: %v", calls.list())
}

// TestRedeliveryOfAnAppliedEventDoesNotRewindTheChat: chat A's first event is
// applied and its acknowledgement confirmed, but the broker forgets it and
// redelivers the event after A's second one was applied. Applying it again
// would put A back in its first state; the worker acknowledges it without
// acting, and A's events stay applied in order, each once.
func TestRedeliveryOfAnAppliedEventDoesNotRewindTheChat(t *testing.T) {
	b := onePartitionBus(t)
	ctx := context.Background()
	const ackWait = time.Second
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	var redelivered atomic.Int32
	forget := func(m jetstream.Msg) bool {
		ev, err := event.Unmarshal(m.Data())
		md, mdErr := m.Metadata()
		if err != nil || mdErr != nil || ev.ChatID != "A" || ev.ThreadID != "seq-1" {
			return false
		}
		if md.NumDelivered > 1 {
			redelivered.Add(1)
		}
		return md.NumDelivered == 1
	}
	calls := &handled{}
	started, release := make(chan struct{}), make(chan struct{})
	close(release)
	runPinned(t, b, ackLoser{Consumer: cons[0], lose: forget, confirmed: true}, blockingHandler(calls, started, release), ackWait,
		consumer.WithLogger(zaptest.NewLogger(t)))
	publish(t, b, "A", 1)
	require.Eventually(t, func() bool { return len(calls.list()) == 1 }, 10*time.Second, 10*time.Millisecond)
	publish(t, b, "A", 2)
	require.Eventually(t, func() bool { return redelivered.Load() > 0 }, 10*time.Second, 10*time.Millisecond, "A's first event redelivered")
	// The redelivery is acknowledged for good: the consumer has nothing
	// pending once it is.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, err := cons[0].Info(ctx)
		require.NoError(c, err)
		assert.Zero(c, info.NumAckPending)
	}, 10*time.Second, 20*time.Millisecond)
	order := chatAOrder(t, calls)
	assert.Equal(t, []int{1, 2}, order, "A's first event not applied again after its second: %v", calls.list())
}

// chatAOrder is the sequence numbers of chat A's events in the order calls
// handled them.
func chatAOrder(t *testing.T, calls *handled) []int {
	t.Helper()
	var order []int
	for _, call := range calls.list() {
		var seq int
		var attempt uint64
		_, err := fmt.Sscanf(call, "A#%d/%d", &seq, &attempt)
		require.NoError(t, err)
		order = append(order, seq)
	}
	return order
}
