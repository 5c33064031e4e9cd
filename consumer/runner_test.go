package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

const partitions = 4

// applied records, per chat, the sequence numbers handled successfully, and
// which replica handled each partition.
type applied struct {
	mu      sync.Mutex
	byChat  map[string][]int
	done    map[string]time.Time
	byPart  map[int]map[string]bool
	inChat  map[string]bool
	overlap int
}

func newApplied() *applied {
	return &applied{byChat: map[string][]int{}, done: map[string]time.Time{}, byPart: map[int]map[string]bool{}, inChat: map[string]bool{}}
}

func (a *applied) chats(chat string) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.byChat[chat]...)
}

// handler is replica name's handler; fail says how many times an event
// fails (retryably) before it succeeds.
func (a *applied) handler(name string, fail func(ev *event.Event) int) consumer.Handler {
	attempts := map[string]int{}
	var mu sync.Mutex
	return consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
		a.mu.Lock()
		if a.inChat[ev.ChatID] {
			a.overlap++ // two events of one chat at once
		}
		a.inChat[ev.ChatID] = true
		p := event.Partition(ev.Platform, ev.ChatID, partitions)
		if a.byPart[p] == nil {
			a.byPart[p] = map[string]bool{}
		}
		a.byPart[p][name] = true
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			a.inChat[ev.ChatID] = false
			a.mu.Unlock()
		}()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		attempts[ev.ID]++
		n := attempts[ev.ID]
		mu.Unlock()
		if fail != nil && n <= fail(ev) {
			return errors.New("temporary failure")
		}
		var seq int
		_, _ = fmt.Sscanf(ev.ThreadID, "seq-%d", &seq)
		a.mu.Lock()
		a.byChat[ev.ChatID] = append(a.byChat[ev.ChatID], seq)
		a.done[fmt.Sprintf("%s/%d", ev.ChatID, seq)] = time.Now()
		a.mu.Unlock()
		return nil
	})
}

type replica struct {
	bus    *bus.Bus
	runner *consumer.Runner
}

func startReplica(t *testing.T, url string, h consumer.Handler) *replica {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{URL: url}, bus.WithPartitions(partitions), bus.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: partitions, DuplicateWindow: time.Minute, Retention: time.Hour}))
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: partitions, AckWait: 2 * time.Second, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
	require.NoError(t, err)
	r, err := consumer.New(cons, h, consumer.JetStreamDeadLetters{JS: b.JS}, consumer.WithPriorityGroup(bus.WorkerGroup),
		consumer.WithConcurrency(8), consumer.WithAckWait(2*time.Second), consumer.WithMaxAttempts(10),
		consumer.WithBackoff(consumer.Backoff{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}),
		consumer.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	require.NoError(t, r.Start())
	rep := &replica{bus: b, runner: r}
	t.Cleanup(func() { rep.stop() })
	return rep
}

func (r *replica) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = r.runner.Stop(ctx)
	_ = r.bus.Close(ctx)
}

func publish(t *testing.T, b *bus.Bus, chat string, seq int) {
	t.Helper()
	ev := &event.Event{
		ID: event.ContentID([]byte(chat), []byte(fmt.Sprint(seq))), Platform: event.LiveChat, Action: "incoming_event",
		ChatID: chat, ThreadID: fmt.Sprintf("seq-%d", seq), Source: event.SourceWebhook, ReceivedAt: time.Now(), Payload: []byte(`{}`),
	}
	_, err := b.Publish(context.Background(), ev)
	require.NoError(t, err)
}

// TestFailingEventHoldsBackOnlyItsChat: chat A's first event fails twice;
// A's later events wait for it, chat B's events do not.
func TestFailingEventHoldsBackOnlyItsChat(t *testing.T) {
	srv := bustest.Start(t)
	a := newApplied()
	failFirstOfA := func(ev *event.Event) int {
		if ev.ChatID == "A" && ev.ThreadID == "seq-1" {
			return 2
		}
		return 0
	}
	rep := startReplica(t, srv.URL(), a.handler("r1", failFirstOfA))
	for seq := 1; seq <= 3; seq++ {
		publish(t, rep.bus, "A", seq)
		publish(t, rep.bus, "B", seq)
	}
	require.Eventually(t, func() bool { return len(a.chats("A")) == 3 && len(a.chats("B")) == 3 }, 15*time.Second, 10*time.Millisecond)
	assert.Equal(t, []int{1, 2, 3}, a.chats("A"), "A's events in order, retries included")
	assert.Equal(t, []int{1, 2, 3}, a.chats("B"))
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.True(t, a.done["B/3"].Before(a.done["A/1"]), "B is not held back by A's retries")
	assert.Zero(t, a.overlap, "never two events of one chat at once")
}

// TestPartitionsOwnedByOneReplicaWithFailover: with two replicas, each
// partition is handled by exactly one of them; when that replica dies, the
// other takes its partitions over, and per-chat order holds throughout.
func TestPartitionsOwnedByOneReplicaWithFailover(t *testing.T) {
	srv := bustest.Start(t)
	a := newApplied()
	r1 := startReplica(t, srv.URL(), a.handler("r1", nil))
	r2 := startReplica(t, srv.URL(), a.handler("r2", nil))
	chats := make([]string, 40)
	for i := range chats {
		chats[i] = fmt.Sprintf("chat-%02d", i)
	}
	for seq := 1; seq <= 5; seq++ {
		for _, c := range chats {
			publish(t, r1.bus, c, seq)
		}
	}
	allDone := func(n int) func() bool {
		return func() bool {
			for _, c := range chats {
				if len(a.chats(c)) < n {
					return false
				}
			}
			return true
		}
	}
	require.Eventually(t, allDone(5), 20*time.Second, 20*time.Millisecond)
	a.mu.Lock()
	owners := map[int]string{}
	for p, names := range a.byPart {
		assert.Len(t, names, 1, "partition %d handled by one replica, got %v", p, names)
		for n := range names {
			owners[p] = n
		}
		delete(a.byPart, p)
	}
	a.mu.Unlock()

	// The replica owning partition 0's chats dies; the other takes over.
	victim, survivor := r1, "r2"
	if owners[event.Partition(event.LiveChat, chats[0], partitions)] == "r2" {
		victim, survivor = r2, "r1"
	}
	victim.bus.Conn.Close()
	victim.stop()
	publisher := r1
	if victim == r1 {
		publisher = r2
	}
	for seq := 6; seq <= 8; seq++ {
		for _, c := range chats {
			publish(t, publisher.bus, c, seq)
		}
	}
	require.Eventually(t, allDone(8), 30*time.Second, 20*time.Millisecond)
	for _, c := range chats {
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, a.chats(c), c)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, names := range a.byPart {
		assert.Equal(t, map[string]bool{survivor: true}, names, "after failover partition %d belongs to %s", p, survivor)
	}
	assert.Zero(t, a.overlap)
}

// lossyConsumer is a real consumer whose deliveries pass through drop: the
// ones it returns true for never reach the runner, as when the client drops
// them (a slow-consumer overflow) or a connection loses them. The broker
// still counts them delivered and redelivers them after the ack wait.
type lossyConsumer struct {
	jetstream.Consumer
	drop func(jetstream.Msg) bool
}

func (c lossyConsumer) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	return c.Consumer.Consume(func(msg jetstream.Msg) {
		if !c.drop(msg) {
			h(msg)
		}
	}, opts...)
}

// startLossyRunner provisions b's partition consumer and runs a pinned
// runner (concurrency 8) over it until the test ends, recording what it
// applies; deliveries for which drop is true never reach the runner.
func startLossyRunner(t *testing.T, b *bus.Bus, ackWait time.Duration, maxAckPending int, log *zap.Logger, drop func(jetstream.Msg) bool) (*applied, *metrics.Metrics) {
	t.Helper()
	cons, err := bus.ProvisionWorkerConsumers(context.Background(), b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait,
		MaxAckPending: maxAckPending, PinnedTTL: 5 * time.Second})
	require.NoError(t, err)
	a := newApplied()
	m := metrics.New()
	runPinned(t, b, lossyConsumer{Consumer: cons[0], drop: drop}, a.handler("r1", nil), ackWait, consumer.WithMetrics(m), consumer.WithLogger(log))
	return a, m
}

// runPinned runs a runner over c in the workers' priority group
// (concurrency 8, dead letters to b) until the test ends.
func runPinned(t *testing.T, b *bus.Bus, c jetstream.Consumer, h consumer.Handler, ackWait time.Duration, opts ...consumer.Option) {
	t.Helper()
	opts = append([]consumer.Option{consumer.WithPriorityGroup(bus.WorkerGroup), consumer.WithConcurrency(8), consumer.WithAckWait(ackWait)}, opts...)
	runRunner(t, b, []jetstream.Consumer{c}, h, opts...)
}

// runRunner starts a runner over cons (dead letters to b) and stops it when
// the test ends.
func runRunner(t *testing.T, b *bus.Bus, cons []jetstream.Consumer, h consumer.Handler, opts ...consumer.Option) *consumer.Runner {
	t.Helper()
	r, err := consumer.New(cons, h, consumer.JetStreamDeadLetters{JS: b.JS}, opts...)
	require.NoError(t, err)
	require.NoError(t, r.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

// unpinnedConsumer creates durable, a consumer of b's partition 0 outside
// any priority group, acknowledged explicitly within ackWait.
func unpinnedConsumer(t *testing.T, b *bus.Bus, durable string, ackWait time.Duration) jetstream.Consumer {
	t.Helper()
	c, err := b.JS.CreateOrUpdateConsumer(context.Background(), bus.EventsStream, jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: bus.PartitionFilter(0), AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
	})
	require.NoError(t, err)
	return c
}

// onePartitionBus is a bus with one partition on a new embedded server, its
// streams provisioned.
func onePartitionBus(t *testing.T) *bus.Bus {
	t.Helper()
	srv := bustest.Start(t)
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{URL: srv.URL()}, bus.WithPartitions(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: time.Minute, Retention: time.Hour}))
	return b
}

// TestDeliveriesLostInTransitKeepChatOrder: the broker delivers chat A's
// second event but it never reaches the worker; events after it, A's third
// among them, arrive. The worker sees the gap in the consumer's delivery
// sequence and holds the partition's new events back until the lost one is
// redelivered, so A's events are applied in order, each once; B's too.
func TestDeliveriesLostInTransitKeepChatOrder(t *testing.T) {
	b := onePartitionBus(t)
	const ackWait = time.Second
	var dropped sync.Once
	var droppedAt time.Time
	var mu sync.Mutex
	deliveries := map[string]uint64{} // "chat seq-n" -> deliveries seen
	a, m := startLossyRunner(t, b, ackWait, 100, zaptest.NewLogger(t), func(m jetstream.Msg) bool {
		ev, err := event.Unmarshal(m.Data())
		lose := false
		if err == nil {
			mu.Lock()
			deliveries[ev.ChatID+" "+ev.ThreadID]++
			mu.Unlock()
			if ev.ChatID == "A" && ev.ThreadID == "seq-2" {
				dropped.Do(func() { lose, droppedAt = true, time.Now() })
			}
		}
		return lose
	})

	publish(t, b, "A", 1)
	require.Eventually(t, func() bool { return len(a.chats("A")) == 1 }, 5*time.Second, 5*time.Millisecond)
	for seq := 2; seq <= 4; seq++ {
		publish(t, b, "A", seq)
		publish(t, b, "B", seq)
	}
	require.Eventually(t, func() bool { return len(a.chats("A")) == 4 && len(a.chats("B")) == 3 }, 15*time.Second, 10*time.Millisecond)
	assert.Equal(t, []int{1, 2, 3, 4}, a.chats("A"), "A's events in order although its second one was lost once")
	assert.Equal(t, []int{2, 3, 4}, a.chats("B"))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.DeliveryGaps), "the gap is counted")
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.GreaterOrEqual(t, a.done["A/2"].Sub(droppedAt), ackWait/2, "A's second event is applied on its redelivery, after the ack wait")
	// The partition holds its later events, keeping them alive, rather than
	// stopping pulling until everything is given up: only the lost delivery
	// came twice.
	mu.Lock()
	assert.Equal(t, map[string]uint64{"A seq-1": 1, "A seq-2": 2, "A seq-3": 1, "A seq-4": 1, "B seq-2": 1, "B seq-3": 1, "B seq-4": 1}, deliveries,
		"held only until the lost event is redelivered; nothing else given up")
	mu.Unlock()
	// Stopping pulling would take at least the pull expiry (5s) plus the
	// ack wait; holding takes about one ack wait. The bound sits at the
	// former so that a busy machine (2 cores, -race) cannot fail it.
	assert.Less(t, a.done["A/4"].Sub(droppedAt), 5*time.Second+ackWait, "held only until the lost event is redelivered")
	assert.Zero(t, a.overlap)
}

// TestRedeliveriesHandedOverInStreamOrder: a replica received chat A's two
// events and B's, kept A's first one alive longer (it was in progress), and
// died. The broker gives A's second event up before its first, so it
// redelivers them in that order to the replica taking over; the new replica
// applies them in the order they were stored.
//
// The test waits on the consumer's state, not on the clock: the dying
// replica keeps A's first event alive until the broker has redelivered the
// other two to the new replica (the consumer counts 2 redelivered), then
// gives it up, and the test checks that the redeliveries did come in that
// order (A's second before its first) before judging the applied order.
func TestRedeliveriesHandedOverInStreamOrder(t *testing.T) {
	ctx := context.Background()
	b := onePartitionBus(t)
	const ackWait = time.Second
	c := unpinnedConsumer(t, b, "takeover", ackWait)
	publish(t, b, "A", 1)
	publish(t, b, "A", 2)
	publish(t, b, "B", 1)

	// The replica that dies: it received all three and keeps A's first
	// alive (its ack wait restarts with every "in progress") until told.
	batch, err := c.Fetch(3, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	require.Len(t, got, 3)
	first, err := event.Unmarshal(got[0].Data())
	require.NoError(t, err)
	require.Equal(t, "A seq-1", first.ChatID+" "+first.ThreadID)
	require.NoError(t, got[0].InProgress())
	die := make(chan struct{})
	keptAlive := make(chan struct{})
	go func() {
		defer close(keptAlive)
		tick := time.NewTicker(ackWait / 10)
		defer tick.Stop()
		for {
			select {
			case <-die:
				return
			case <-tick.C:
				_ = got[0].InProgress()
			}
		}
	}()
	var dieOnce sync.Once
	stopKeepingAlive := func() { dieOnce.Do(func() { close(die); <-keptAlive }) }
	t.Cleanup(stopKeepingAlive)

	// The replica taking over; a spy records the deliveries it receives.
	a := newApplied()
	var mu sync.Mutex
	var deliveries []string
	spy := lossyConsumer{Consumer: c, drop: func(m jetstream.Msg) bool {
		ev, err := event.Unmarshal(m.Data())
		md, mdErr := m.Metadata()
		if err == nil && mdErr == nil {
			mu.Lock()
			deliveries = append(deliveries, fmt.Sprintf("%s %s #%d", ev.ChatID, ev.ThreadID, md.NumDelivered))
			mu.Unlock()
		}
		return false
	}}
	runRunner(t, b, []jetstream.Consumer{spy}, a.handler("r2", nil),
		consumer.WithConcurrency(8), consumer.WithAckWait(ackWait), consumer.WithLogger(zaptest.NewLogger(t)))
	numRedelivered := func(ct *assert.CollectT) int {
		info, err := c.Info(ctx)
		require.NoError(ct, err)
		return info.NumRedelivered
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, 2, numRedelivered(ct), "A's second and B's first given up and redelivered")
	}, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, a.chats("A"), "A's second waits while its first is pending elsewhere")

	// The replica dies: A's first event is given up in turn (a nak rather
	// than one more ack wait, so that its redelivery comes within the new
	// replica's hold however busy the machine is).
	stopKeepingAlive()
	require.NoError(t, got[0].Nak())
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []int{1, 2}, a.chats("A"))
		assert.Equal(ct, []int{1}, a.chats("B"))
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []int{1, 2}, a.chats("A"), "A's events in stream order")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"A seq-2 #2", "B seq-1 #2", "A seq-1 #2"}, deliveries,
		"the broker redelivered A's second event before its first, each a second delivery")
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.Zero(t, a.overlap)
}

// TestLateReplicaGetsItsShareOfPartitions: with balancing, a replica that
// starts after another one took every partition gets about half of them
// within a few balancing periods, and each chat's events stay in order, one
// at a time, through the moves.
func TestLateReplicaGetsItsShareOfPartitions(t *testing.T) {
	srv := bustest.Start(t)
	a := newApplied()
	start := func(name string) *replica {
		t.Helper()
		ctx := context.Background()
		b, err := bus.Open(ctx, config.NATS{URL: srv.URL()}, bus.WithPartitions(partitions))
		require.NoError(t, err)
		require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: partitions, DuplicateWindow: time.Minute, Retention: time.Hour}))
		cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: partitions, AckWait: 2 * time.Second, MaxAckPending: 100, PinnedTTL: 2 * time.Second})
		require.NoError(t, err)
		kv, err := bus.ProvisionWorkersBucket(ctx, b.JS, 1, nil)
		require.NoError(t, err)
		stream, err := b.JS.Stream(ctx, bus.EventsStream)
		require.NoError(t, err)
		r, err := consumer.New(cons, a.handler(name, nil), consumer.JetStreamDeadLetters{JS: b.JS}, consumer.WithPriorityGroup(bus.WorkerGroup),
			consumer.WithConcurrency(8), consumer.WithAckWait(2*time.Second), consumer.WithLogger(zaptest.NewLogger(t).Named(name)),
			consumer.WithBalancing(kv, stream, 300*time.Millisecond, 200*time.Millisecond))
		require.NoError(t, err)
		require.NoError(t, r.Start())
		rep := &replica{bus: b, runner: r}
		t.Cleanup(func() { rep.stop() })
		return rep
	}
	chats := make([]string, 24)
	for i := range chats {
		chats[i] = fmt.Sprintf("chat-%02d", i)
	}
	r1 := start("r1")
	seq := 0
	publishRound := func() {
		seq++
		for _, c := range chats {
			publish(t, r1.bus, c, seq)
		}
	}
	allDone := func() bool {
		for _, c := range chats {
			if len(a.chats(c)) < seq {
				return false
			}
		}
		return true
	}
	publishRound()
	require.Eventually(t, allDone, 10*time.Second, 10*time.Millisecond)
	a.mu.Lock()
	for p, names := range a.byPart {
		assert.Equal(t, map[string]bool{"r1": true}, names, "alone, r1 handles partition %d", p)
		delete(a.byPart, p)
	}
	a.mu.Unlock()

	start("r2")
	// Keep events coming while the partitions move; then look at who
	// handles the last rounds.
	// Balancing runs every 300ms and moves a partition at a time: a few
	// periods suffice. The limit only ends a failing run; it is generous
	// because a busy machine (2 cores, -race) stretches every period.
	deadline := time.Now().Add(60 * time.Second)
	shared := false
	for !shared && time.Now().Before(deadline) {
		a.mu.Lock()
		for p := range a.byPart {
			delete(a.byPart, p)
		}
		a.mu.Unlock()
		for range 3 {
			publishRound()
			require.Eventually(t, allDone, 20*time.Second, 10*time.Millisecond)
		}
		a.mu.Lock()
		owners := map[string]int{}
		for _, names := range a.byPart {
			if len(names) == 1 {
				for n := range names {
					owners[n]++
				}
			}
		}
		shared = owners["r1"] == partitions/2 && owners["r2"] == partitions/2
		a.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
	assert.True(t, shared, "r1 and r2 each own half of the partitions")
	want := make([]int, seq)
	for i := range want {
		want[i] = i + 1
	}
	for _, c := range chats {
		assert.Equal(t, want, a.chats(c), "chat %s in order, each event once", c)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.Zero(t, a.overlap, "never two events of one chat at once")
}

// TestManyDeliveriesLostKeepEveryChatsOrder: under a steady stream of
// events of many chats, a tenth of the first deliveries never reach the
// worker, some while the partition already holds events after an earlier
// gap. Every chat's events are still applied in order, each exactly once.
func TestManyDeliveriesLostKeepEveryChatsOrder(t *testing.T) {
	b := onePartitionBus(t)
	const ackWait = time.Second
	var mu sync.Mutex
	seen := map[uint64]bool{} // stream sequences delivered (or dropped) once
	rng := rand.New(rand.NewPCG(7, 11))
	drops := 0
	a, m := startLossyRunner(t, b, ackWait, 1000, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), func(m jetstream.Msg) bool {
		md, err := m.Metadata()
		if err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[md.Sequence.Stream] {
			return false // redeliveries arrive
		}
		seen[md.Sequence.Stream] = true
		if rng.IntN(10) == 0 {
			drops++
			return true
		}
		return false
	})

	const chats, perChat = 20, 15
	for seq := 1; seq <= perChat; seq++ {
		for c := range chats {
			publish(t, b, fmt.Sprintf("C%02d", c), seq)
		}
		time.Sleep(20 * time.Millisecond) // spread over ~0.3s: gaps during holds
	}
	want := make([]int, perChat)
	for i := range want {
		want[i] = i + 1
	}
	require.Eventually(t, func() bool {
		for c := range chats {
			if len(a.chats(fmt.Sprintf("C%02d", c))) < perChat {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond)
	for c := range chats {
		assert.Equal(t, want, a.chats(fmt.Sprintf("C%02d", c)), "chat C%02d: in order, each once", c)
	}
	mu.Lock()
	assert.Greater(t, drops, 10, "deliveries were lost")
	mu.Unlock()
	assert.GreaterOrEqual(t, testutil.ToFloat64(m.DeliveryGaps), 1.0, "gaps were seen")
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.Zero(t, a.overlap)
}

// TestHoldingReplicaThatLosesThePinHandsItsEventsBack: replica A took the
// partition over and holds its events while one is still pending at another
// replica (R); then the broker pins the partition to replica B (as a
// consumer leader change can, without telling A). B holds until nothing is
// pending elsewhere, A's held events included: A must hand them back, or A
// and B wait for each other forever. Once R finishes, B applies everything
// in stream order, each event once.
func TestHoldingReplicaThatLosesThePinHandsItsEventsBack(t *testing.T) {
	ctx := context.Background()
	srv := bustest.Start(t)
	open := func() *bus.Bus {
		b, err := bus.Open(ctx, config.NATS{URL: srv.URL()}, bus.WithPartitions(1))
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close(context.Background()) })
		return b
	}
	b := open()
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: time.Minute, Retention: time.Hour}))
	const ackWait = 30 * time.Second // nothing is redelivered for being given up during the test
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: ackWait, MaxAckPending: 100, PinnedTTL: 10 * time.Second})
	require.NoError(t, err)
	name := cons[0].CachedInfo().Name
	stream, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	// Each replica has its own connection and consumer handle (its own pin).
	consumerOf := func() jetstream.Consumer {
		c, err := open().JS.Consumer(ctx, bus.EventsStream, name)
		require.NoError(t, err)
		return c
	}

	// R takes the pin and chat A's first event, and keeps it unfinished.
	publish(t, b, "A", 1)
	batch, err := consumerOf().Fetch(1, jetstream.FetchPriorityGroup(bus.WorkerGroup), jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	atR := <-batch.Messages()
	require.NotNil(t, atR, "R got A's first event")
	require.NoError(t, stream.UnpinConsumer(ctx, name, bus.WorkerGroup))

	a := newApplied()
	var mu sync.Mutex
	delivered := map[string]int{}
	startRunner := func(replica string) {
		spy := lossyConsumer{Consumer: consumerOf(), drop: func(jetstream.Msg) bool {
			mu.Lock()
			delivered[replica]++
			mu.Unlock()
			return false
		}}
		runPinned(t, b, spy, a.handler(replica, nil), ackWait, consumer.WithLogger(zaptest.NewLogger(t).Named(replica)))
	}
	deliveredTo := func(replica string) int {
		mu.Lock()
		defer mu.Unlock()
		return delivered[replica]
	}

	// A is pinned next and holds A's second event and B's first.
	startRunner("A")
	publish(t, b, "A", 2)
	publish(t, b, "B", 1)
	require.Eventually(t, func() bool { return deliveredTo("A") == 2 }, 10*time.Second, 10*time.Millisecond)

	// The pin moves to replica B: unpin and publish a new event, wait until
	// that event reached one of the replicas, and again, until one reaches B.
	startRunner("B")
	c := 0
	for deliveredTo("B") == 0 {
		require.Less(t, c, 30, "the pin never moved to B")
		before := deliveredTo("A")
		require.NoError(t, stream.UnpinConsumer(ctx, name, bus.WorkerGroup))
		c++
		publish(t, b, "C", c)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.True(ct, deliveredTo("B") > 0 || deliveredTo("A") > before, "C's event %d delivered to A or B", c)
		}, 10*time.Second, 10*time.Millisecond)
	}
	assert.Empty(t, a.chats("A"), "nothing runs while R's event is pending")

	// R finishes A's first event.
	a.mu.Lock()
	a.byChat["A"] = append(a.byChat["A"], 1)
	a.mu.Unlock()
	require.NoError(t, atR.DoubleAck(ctx))

	wantC := make([]int, c)
	for i := range wantC {
		wantC[i] = i + 1
	}
	require.Eventually(t, func() bool {
		return len(a.chats("A")) == 2 && len(a.chats("B")) == 1 && len(a.chats("C")) == c
	}, 15*time.Second, 20*time.Millisecond, "the events held at A reach B and run")
	assert.Equal(t, []int{1, 2}, a.chats("A"))
	assert.Equal(t, wantC, a.chats("C"), "in stream order, each once")
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.Zero(t, a.overlap)
}

// staleInfoConsumer is a real consumer whose info answers what it was when
// frozen until until, as a broker node that restarted answers from its
// stored state until it hears from the consumer's leader.
type staleInfoConsumer struct {
	jetstream.Consumer
	frozen *jetstream.ConsumerInfo
	until  time.Time
}

func (c staleInfoConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	if time.Now().After(c.until) {
		return c.Consumer.Info(ctx)
	}
	info := *c.frozen
	return &info, nil
}

// TestStaleConsumerInfoDoesNotEndAHold: another replica received chat A's
// first event and died with it; a new replica takes the partition over with
// A's second event, and holds it until nothing is pending elsewhere. The
// consumer's info answers from a state older than what the new replica
// received (nothing delivered, nothing pending) for a while: taken at its
// word, the hold would end at once and A's second event would run before
// its first. The replica sees that the answers are stale, ignores them, and
// A's events run in order.
func TestStaleConsumerInfoDoesNotEndAHold(t *testing.T) {
	ctx := context.Background()
	b := onePartitionBus(t)
	const ackWait = time.Second
	c := unpinnedConsumer(t, b, "stale", ackWait)
	frozen, err := c.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, frozen.Delivered.Consumer)

	publish(t, b, "A", 1)
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(2*time.Second)) // the replica that dies with it
	require.NoError(t, err)
	n := 0
	for range batch.Messages() {
		n++
	}
	require.Equal(t, 1, n)
	publish(t, b, "A", 2)

	a := newApplied()
	m := metrics.New()
	runRunner(t, b, []jetstream.Consumer{staleInfoConsumer{Consumer: c, frozen: frozen, until: time.Now().Add(3 * ackWait / 2)}}, a.handler("r2", nil),
		consumer.WithConcurrency(8), consumer.WithAckWait(ackWait), consumer.WithMetrics(m), consumer.WithLogger(zaptest.NewLogger(t)))
	require.Eventually(t, func() bool { return len(a.chats("A")) == 2 }, 15*time.Second, 10*time.Millisecond)
	assert.Equal(t, []int{1, 2}, a.chats("A"), "A's second event waits for its first, redelivered after the ack wait")
	assert.Positive(t, testutil.ToFloat64(m.StaleConsumerInfo), "the stale answers are counted")
}
