package console

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/metrics"
)

// Watcher keeps the stream and consumer gauges of package metrics
// (chatwarden_stream_messages, chatwarden_consumer_pending,
// chatwarden_consumer_ack_pending, chatwarden_consumer_redelivered) equal to
// JetStream's state. Stop ends it.
type Watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// WatchStreams sets the gauges now and then every interval (default 5s when
// interval <= 0) until Stop. The state is shared by every process on the
// same NATS, so each process reports the same values: aggregate with max().
// Gauges of consumers that went away are removed. While the state cannot be
// read, the gauges keep their last values and a warning is logged at most
// once a minute.
func WatchStreams(js jetstream.JetStream, m *metrics.Metrics, interval time.Duration, logger *zap.Logger) *Watcher {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	logger = logger.Named("console")
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var lastWarn time.Time
		seen := map[[3]string]bool{}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			streams, consumers, err := Stats(rctx, js)
			rcancel()
			if err == nil {
				seen = setGauges(m, streams, consumers, seen)
			} else if ctx.Err() == nil && time.Since(lastWarn) > time.Minute {
				logger.Warn("reading stream and consumer state for metrics", zap.Error(err))
				lastWarn = time.Now()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// setGauges sets the gauges and removes those of consumers not in
// consumers; it returns the label sets now set.
func setGauges(m *metrics.Metrics, streams []StreamStat, consumers []ConsumerStat, before map[[3]string]bool) map[[3]string]bool {
	for _, s := range streams {
		if !s.Missing {
			m.StreamMessages.WithLabelValues(s.Name).Set(float64(s.Messages))
		}
	}
	now := make(map[[3]string]bool, len(consumers))
	for _, c := range consumers {
		k := [3]string{c.Stream, c.Name, c.Partition}
		now[k] = true
		m.ConsumerPending.WithLabelValues(k[:]...).Set(float64(c.Pending))
		m.ConsumerAckPending.WithLabelValues(k[:]...).Set(float64(c.AckPending))
		m.ConsumerRedelivered.WithLabelValues(k[:]...).Set(float64(c.Redelivered))
	}
	for k := range before {
		if !now[k] {
			m.ConsumerPending.DeleteLabelValues(k[:]...)
			m.ConsumerAckPending.DeleteLabelValues(k[:]...)
			m.ConsumerRedelivered.DeleteLabelValues(k[:]...)
		}
	}
	return now
}

// Stop ends the watcher and waits for it. It is idempotent.
func (w *Watcher) Stop() {
	w.once.Do(w.cancel)
	<-w.done
}
