package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReadAll calls fn for every message of stream matching cfg that is stored
// when ReadAll starts, oldest first, using an ephemeral ordered consumer. It
// stops early when fn returns an error, and returns that error.
func ReadAll(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) error) error {
	c, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, err)
	}
	for pending := info.NumPending; pending > 0; {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := c.Fetch(int(min(pending, 500)), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("reading stream %s: %w", stream, err)
		}
		n := uint64(0)
		for m := range batch.Messages() {
			n++
			if err := fn(m); err != nil {
				cancel()
				return err
			}
		}
		cancel()
		if n == 0 {
			if err := batch.Error(); err != nil {
				return fmt.Errorf("reading stream %s: %w", stream, err)
			}
			return nil
		}
		pending -= min(n, pending)
	}
	return nil
}
