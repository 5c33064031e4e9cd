package rules_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/tracing"
)

// countingProvider counts the spans started through it.
type countingProvider struct {
	noop.TracerProvider
	started atomic.Int64
}

func (p *countingProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return countingTracer{p: p}
}

type countingTracer struct {
	noop.Tracer
	p *countingProvider
}

func (t countingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t.p.started.Add(1)
	return t.Tracer.Start(ctx, name, opts...)
}

// TestNoSpansWhileTracingIsOff: with tracing off (not installed, the
// default) the engine starts no span per rule, even when a tracer provider
// is set globally: building the span's name and attributes and the span
// itself were allocations on every event for nothing.
func TestNoSpansWhileTracingIsOff(t *testing.T) {
	require.False(t, tracing.Enabled(), "this test runs with tracing off")
	prev := otel.GetTracerProvider()
	p := &countingProvider{}
	otel.SetTracerProvider(p)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	h := newHarness(t, []byte(threeTagRules))
	h.fake.AddChat(unassignedChat("C1"))
	ev := h.webhook(t, "incoming_chat", "C1", nil)
	require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
	assert.Len(t, h.fake.CallsTo("tag_thread"), 2, "the rules ran")
	assert.Zero(t, p.started.Load(), "spans started with tracing off")
}
