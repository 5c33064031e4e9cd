package rules_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/samples"
)

type auditLog struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *auditLog) Write(_ context.Context, r audit.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return nil
}

func (a *auditLog) outcomes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.recs {
		out = append(out, r.Outcome+":"+r.Operation)
	}
	return out
}

// worker is one worker "process": its own NATS connection, runner and engine.
type worker struct {
	bus    *bus.Bus
	runner *consumer.Runner
	audit  *auditLog
}

func startWorker(t *testing.T, url string, client *livechat.Client, set *rules.RuleSet, mw consumer.Middleware) *worker {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{URL: url}, bus.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 4, DuplicateWindow: time.Minute, Retention: time.Hour}))
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 4, AckWait: time.Second, MaxAckPending: 100, PinnedTTL: time.Second})
	require.NoError(t, err)
	kv, err := bus.ProvisionDoneBucket(ctx, b.JS, 1, nil)
	require.NoError(t, err)
	w := &worker{bus: b, audit: &auditLog{}}
	engine := rules.NewEngine(set, rules.ClientMap{event.LiveChat: client}, w.audit, rules.WithDoneStore(rules.KVDoneStore{KV: kv}),
		rules.WithPlatforms(shippedHooks()))
	h := consumer.Chain(engine, mw)
	w.runner, err = consumer.New(cons, h, consumer.JetStreamDeadLetters{JS: b.JS}, consumer.WithAckWait(time.Second),
		consumer.WithPriorityGroup(bus.WorkerGroup),
		consumer.WithLogger(zaptest.NewLogger(t)), consumer.WithBackoff(consumer.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}))
	require.NoError(t, err)
	require.NoError(t, w.runner.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = w.runner.Stop(ctx)
		_ = b.Close(ctx)
	})
	return w
}

// TestWorkerKilledAfterTheCallBeforeTheAck: the first worker sends the note,
// records it, and dies before acknowledging; the event is redelivered to a
// second worker, which must not send it again.
func TestWorkerKilledAfterTheCallBeforeTheAck(t *testing.T) {
	srv := bustest.Start(t)
	fake := livechattest.New()
	apiURL, stop := fake.Start()
	defer stop()
	c := livechattest.UnassignedChat("C1", time.Now())
	c.Thread.ID = "T-C1"
	fake.AddChat(c)
	client, err := livechat.New(livechat.PAT("a", "t"), livechat.WithBaseURL(apiURL))
	require.NoError(t, err)
	set, err := rules.LoadBytes([]byte(`
rules:
  - name: note
    on: [livechat.chat_deactivated]
    then:
      - livechat.send_event: {text: "closed while unassigned", visibility: agents}
`), "t", DefaultActions(), rules.NewRegistry())
	require.NoError(t, err)

	var first *worker
	die := func(next consumer.Handler) consumer.Handler {
		return consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
			err := next.Handle(ctx, ev)
			first.bus.Conn.Close() // the process dies: no ack reaches the server
			return err
		})
	}
	first = startWorker(t, srv.URL(), client, set, die)

	ev, _, err := livechat.ParseWebhook(samples.LiveChat("chat_deactivated", "s", "C1", "T-C1"), time.Now())
	require.NoError(t, err)
	_, err = first.bus.Publish(context.Background(), ev)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(fake.CallsTo("send_event")) == 1 }, 10*time.Second, 10*time.Millisecond)
	// The audit record follows the API's answer.
	require.Eventually(t, func() bool { return len(first.audit.outcomes()) == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"acted:livechat.send_event"}, first.audit.outcomes())

	second := startWorker(t, srv.URL(), client, set, func(h consumer.Handler) consumer.Handler { return h })
	require.Eventually(t, func() bool { return len(second.audit.outcomes()) == 1 }, 15*time.Second, 20*time.Millisecond, "redelivered to the second worker")
	assert.Equal(t, []string{"skipped:livechat.send_event"}, second.audit.outcomes())
	assert.Len(t, fake.CallsTo("send_event"), 1, "the note is sent once")
}
