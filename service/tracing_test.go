package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/tracing"
)

// TestTraceOfOneWebhook: with tracing on, one webhook yields one trace:
// the receiver's span, the publish to JetStream, the worker's processing
// (continued from the traceparent stored with the event), the rule, and the
// platform API calls.
func TestTraceOfOneWebhook(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	tracing.Install(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	fake, url := startFake(t)
	c := livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour))
	c.Thread.Active = false
	fake.AddChat(c)
	svc := start(t, testConfig(t, url, ""), both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)

	byName := map[string]sdktrace.ReadOnlySpan{}
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			name := s.Name()
			if strings.HasPrefix(name, "API ") {
				name = "API " + name[strings.LastIndex(name, "/")+1:]
			}
			byName[name] = s
		}
		return byName["rule unpin-abandoned-unassigned"] != nil && byName["process livechat.chat_deactivated"] != nil
	}, 10*time.Second, 20*time.Millisecond)

	webhook := byName["webhook livechat.chat_deactivated"]
	publish := byName["publish CHATWARDEN_EVENTS"]
	process := byName["process livechat.chat_deactivated"]
	rule := byName["rule unpin-abandoned-unassigned"]
	getChat := byName["API get_chat"]
	update := byName["API update_chat_properties"]
	for name, s := range map[string]sdktrace.ReadOnlySpan{"webhook": webhook, "publish": publish, "process": process,
		"rule": rule, "get_chat": getChat, "update_chat_properties": update} {
		require.NotNil(t, s, "span %s; got %v", name, keys(byName))
	}
	traceID := webhook.SpanContext().TraceID()
	for _, s := range []sdktrace.ReadOnlySpan{publish, process, rule, getChat, update} {
		assert.Equal(t, traceID, s.SpanContext().TraceID(), "%s is in the webhook's trace", s.Name())
	}
	assert.Equal(t, webhook.SpanContext().SpanID(), publish.Parent().SpanID())
	assert.Equal(t, publish.SpanContext().SpanID(), process.Parent().SpanID(), "the worker continues from the stored traceparent")
	assert.Equal(t, process.SpanContext().SpanID(), rule.Parent().SpanID())
	assert.Equal(t, rule.SpanContext().SpanID(), update.Parent().SpanID())
	assert.Equal(t, trace.SpanKindServer, webhook.SpanKind())
	assert.Equal(t, trace.SpanKindConsumer, process.SpanKind())
}

func keys(m map[string]sdktrace.ReadOnlySpan) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
