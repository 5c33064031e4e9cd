package consumer

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

// TestRunnerDefaultsAreTheConfigurations: a runner built without options
// (tests, programs embedding it) and a zero Backoff behave as the default
// workers section does; the defaults live in one place, package config.
func TestRunnerDefaultsAreTheConfigurations(t *testing.T) {
	cfg := config.Default().Workers
	r, err := New([]jetstream.Consumer{nil}, HandlerFunc(func(context.Context, *event.Event) error { return nil }), JetStreamDeadLetters{})
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"workers.concurrency", r.concurrency, cfg.Concurrency},
		{"workers.max_attempts", r.maxAttempts, cfg.MaxAttempts},
		{"workers.backoff_base", r.backoff.Base, cfg.BackoffBase},
		{"workers.backoff_max", r.backoff.Max, cfg.BackoffMax},
		{"workers.backoff_base of a zero Backoff", Backoff{}.withDefaults().Base, cfg.BackoffBase},
		{"workers.backoff_max of a zero Backoff", Backoff{}.withDefaults().Max, cfg.BackoffMax},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.EqualValues(t, tc.want, tc.got) })
	}
}
