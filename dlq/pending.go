package dlq

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Gauge is what WatchPending sets: a prometheus.Gauge, such as
// metrics.Metrics.DeadLettersPending.
type Gauge interface{ Set(float64) }

// PendingWatcher keeps a gauge equal to the number of stored dead letters.
// Stop ends it.
type PendingWatcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// WatchPending sets g to the number of dead letters stored in CHATWARDEN_DLQ
// now and then every interval (default 5s when interval <= 0), until Stop.
// The count comes from the stream's state, so it includes dead letters
// written, retried or purged by other processes. While the count cannot be
// read, g keeps its last value and a warning is logged at most once a minute.
func (s *Store) WatchPending(g Gauge, interval time.Duration) *PendingWatcher {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	w := &PendingWatcher{done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(w.done)
		var lastWarn time.Time
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
			n, err := s.Pending(ctx)
			cancel()
			if err == nil {
				g.Set(float64(n))
			} else if w.ctx.Err() == nil && time.Since(lastWarn) > time.Minute {
				s.logger.Warn("counting pending dead letters", zap.Error(err))
				lastWarn = time.Now()
			}
			select {
			case <-w.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Stop ends the watcher and waits for it. It is idempotent.
func (w *PendingWatcher) Stop() {
	w.once.Do(w.cancel)
	<-w.done
}
