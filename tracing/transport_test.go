package tracing

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// seen is a base transport that keeps the requests it is given.
type seen struct{ reqs []*http.Request }

func (s *seen) RoundTrip(r *http.Request) (*http.Response, error) {
	s.reqs = append(s.reqs, r)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

// TestTransportTracesOnlyWhenTracingIsOn: with tracing off a call reaches
// the base transport as it was made (the same request: no otelhttp in the
// way, which clones it and builds span and metric attributes for every
// call); once tracing is installed, calls made through the same transport
// are spans and carry the traceparent.
func TestTransportTracesOnlyWhenTracingIsOn(t *testing.T) {
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp); installed.Store(false) })
	require.False(t, installed.Load(), "tracing is off until installed")

	base := &seen{}
	tr := Transport(base)
	call := func() *http.Request {
		req, err := http.NewRequest(http.MethodPost, "http://api.test/v3.6/agent/action/tag_thread", http.NoBody)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return req
	}

	req := call()
	require.Len(t, base.reqs, 1)
	assert.Same(t, req, base.reqs[0], "tracing off: the request goes straight to the base transport")

	rec := tracetest.NewSpanRecorder()
	Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	req = call()
	require.Len(t, base.reqs, 2)
	assert.NotSame(t, req, base.reqs[1])
	assert.NotEmpty(t, base.reqs[1].Header.Get("traceparent"))
	require.Len(t, rec.Ended(), 1)
	assert.Equal(t, "API POST /v3.6/agent/action/tag_thread", rec.Ended()[0].Name())
}
