package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/rules"
)

// silentKV is a bucket whose requests are never answered, as when the
// bucket's stream leader dies with them in flight.
type silentKV struct{ jetstream.KeyValue }

func (silentKV) Get(ctx context.Context, _ string) (jetstream.KeyValueEntry, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (silentKV) Put(ctx context.Context, _ string, _ []byte) (uint64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestKVDoneStoreGivesUpWhenNoAnswerComes: the record of performed actions
// fails after a few seconds when the bucket does not answer, not when the
// handler's context ends (minutes), so the event is retried instead of
// holding up its chat.
func TestKVDoneStoreGivesUpWhenNoAnswerComes(t *testing.T) {
	store := rules.KVDoneStore{KV: silentKV{}}
	for name, op := range map[string]func(context.Context) error{
		"IsDone":   func(ctx context.Context) error { _, err := store.IsDone(ctx, "k"); return err },
		"MarkDone": func(ctx context.Context) error { return store.MarkDone(ctx, "k") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			assert.Error(t, op(ctx))
			assert.Less(t, time.Since(start), 15*time.Second, "gave up long before the caller's minute")
		})
	}
}
