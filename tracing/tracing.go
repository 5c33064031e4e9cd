// Package tracing sets up OpenTelemetry for chatwarden and carries trace
// context across NATS: one trace per webhook, from the request through the
// stored event (W3C traceparent in the message headers) to the worker, each
// rule and each platform API call.
//
// Tracing is off unless otel.endpoint is set; then the global tracer
// provider and propagator stay OpenTelemetry's no-ops, and every span in
// the code costs next to nothing.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatwarden/chatwarden/config"
)

// Name is the instrumentation scope of chatwarden's own spans.
const Name = "github.com/chatwarden/chatwarden"

// Tracer is chatwarden's tracer (from the global provider).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Setup installs an OTLP/HTTP exporter and the W3C trace-context
// propagator when cfg.Endpoint is set. It returns a function that flushes
// and stops the exporter (a no-op when tracing is off).
func Setup(ctx context.Context, cfg config.OTel) (shutdown func(context.Context) error, err error) {
	if cfg.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otel.endpoint: %w", err)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host)}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if u.Path != "" && u.Path != "/" {
		opts = append(opts, otlptracehttp.WithURLPath(u.Path+"/v1/traces"))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otel.endpoint %s: %w", cfg.Endpoint, err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	Install(tp)
	return tp.Shutdown, nil
}

// Install makes tp the global tracer provider and turns on W3C trace
// context propagation (tests install an in-memory provider this way). From
// then on Transport traces each call.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	installed.Store(true)
}

// installed: Install was called (tracing is on).
var installed atomic.Bool

// Enabled reports whether tracing is on (Install was called). Hot paths
// start their spans only then: with tracing off, building a span's name and
// attributes and the global tracer's no-op span cost allocations on every
// webhook and event for nothing; trace.SpanFromContext gives them a no-op
// span to use instead.
func Enabled() bool { return installed.Load() }

// Inject writes ctx's trace context into NATS message headers.
func Inject(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
}

// Extract returns ctx carrying the trace context found in NATS message
// headers (unchanged when there is none).
func Extract(ctx context.Context, h nats.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(h))
}

// Transport wraps an HTTP transport so each platform API call is a span
// (with the W3C traceparent sent along) once tracing is on (Install);
// until then a call goes straight to base, not through otelhttp, whose
// span and metric attributes cost about a tenth of a worker's CPU per
// action even when nothing records them. base nil means
// http.DefaultTransport.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, traced: otelhttp.NewTransport(base, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return "API " + r.Method + " " + r.URL.Path
	}))}
}

// transport is Transport's: traced when tracing is on, base otherwise.
type transport struct {
	base, traced http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if installed.Load() {
		return t.traced.RoundTrip(r)
	}
	return t.base.RoundTrip(r)
}
