package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

// TestRandomActionsKeepMetricSeriesBounded: 1,000 events with random
// actions (and some with random platforms), acknowledged, retried or
// dead-lettered, leave chatwarden_events_processed_total and the other
// worker metrics with a handful of series, every label from a bounded set.
func TestRandomActionsKeepMetricSeriesBounded(t *testing.T) {
	const n = 1000
	b := onePartitionBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: 5 * time.Second,
		MaxAckPending: 1000, PinnedTTL: 5 * time.Second})
	require.NoError(t, err)
	var attempts sync.Map
	var handled atomic.Int64
	h := consumer.HandlerFunc(func(_ context.Context, ev *event.Event) error {
		var i int
		_, _ = fmt.Sscanf(ev.ThreadID, "t%d", &i)
		a, _ := attempts.LoadOrStore(ev.ID, new(atomic.Int64))
		switch {
		case i%7 == 0:
			return consumer.Permanent("validation", errors.New("rejected"))
		case i%5 == 0 && a.(*atomic.Int64).Add(1) == 1:
			return errors.New("try again")
		}
		handled.Add(1)
		return nil
	})
	m := metrics.New()
	runPinned(t, b, cons[0], h, 5*time.Second, consumer.WithMetrics(m),
		consumer.WithBackoff(consumer.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}))

	rnd := rand.New(rand.NewPCG(1, 2))
	randomString := func() string {
		s := make([]byte, 1+rnd.IntN(40))
		for i := range s {
			s[i] = byte(0x21 + rnd.IntN(0x5e))
		}
		return string(s)
	}
	for i := 0; i < n; i++ {
		ev := &event.Event{ID: fmt.Sprintf("e%d", i), Platform: event.LiveChat, Action: randomString(), ChatID: fmt.Sprintf("C%d", i%50),
			ThreadID: fmt.Sprintf("t%d", i), Source: event.SourceWebhook, ReceivedAt: time.Now(), Payload: []byte(`{}`)}
		if i%3 == 0 {
			ev.Platform = randomString()
		}
		_, err := b.Publish(ctx, ev)
		require.NoError(t, err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, err := cons[0].Info(ctx)
		if assert.NoError(c, err) {
			assert.Zero(c, info.NumPending+uint64(info.NumAckPending))
		}
	}, time.Minute, 50*time.Millisecond, "1,000 events on a 2-core CI runner with -race take a few seconds")
	assert.EqualValues(t, n-(n+6)/7, handled.Load())

	allowed := map[string]map[string]bool{
		"platform": {event.LiveChat: true, event.OtherLabel: true},
		"action":   {event.OtherLabel: true},
		"outcome":  {metrics.OutcomeAck: true, metrics.OutcomeRetry: true, metrics.OutcomeDeadLetter: true},
		"reason":   {consumer.ReasonPermanent: true},
	}
	for name, vec := range map[string]interface {
		Collect(chan<- prometheus.Metric)
		Describe(chan<- *prometheus.Desc)
	}{"events_processed": m.EventsProcessed, "retries": m.Retries, "dead_letters": m.DeadLetters} {
		assert.LessOrEqual(t, testutil.CollectAndCount(vec), 6, name)
		ch := make(chan prometheus.Metric, 100)
		vec.Collect(ch)
		close(ch)
		for pm := range ch {
			var d dto.Metric
			require.NoError(t, pm.Write(&d))
			for _, l := range d.GetLabel() {
				assert.True(t, allowed[l.GetName()][l.GetValue()], "%s: label %s=%q", name, l.GetName(), l.GetValue())
			}
		}
	}
}
