package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	. "github.com/chatwarden/chatwarden/rules"
)

const latencyRules = `
rules:
  - name: unpin-pinned
    on: [livechat.chat_deactivated]
    if: event.chat_id != "SKIP"
    then:
      - livechat.unpin: {}
`

// histogram reads one series of a histogram vector: how many observations
// and their sum.
func histogram(t *testing.T, vec *prometheus.HistogramVec, labels ...string) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	require.NoError(t, vec.WithLabelValues(labels...).(prometheus.Metric).Write(&m))
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestWebhookToActionLatency: the latency users feel runs from the
// webhook being stored (received_at) to the platform confirming the
// action; decisions that act on nothing, and events late on purpose
// (re-checks, sweeps), are not observed.
func TestWebhookToActionLatency(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chat      string
		source    string
		wantCount uint64
	}{
		{name: "a webhook acted on is observed", chat: "C1", source: event.SourceWebhook, wantCount: 1},
		{name: "a skipped decision is not", chat: "SKIP", source: event.SourceWebhook, wantCount: 0},
		{name: "a re-check is not", chat: "C2", source: event.SourceRecheck, wantCount: 0},
		{name: "a swept chat is not", chat: "C3", source: event.SourceSweep, wantCount: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			h := newHarness(t, []byte(latencyRules), WithMetrics(m))
			h.fake.AddChat(unassignedChat(tc.chat))
			ev := h.webhook(t, "chat_deactivated", tc.chat, nil)
			ev.Source = tc.source
			h.now = h.now.Add(3 * time.Second) // the worker runs 3s after the receiver stored it
			require.NoError(t, h.engine.Handle(context.Background(), ev))
			count, sum := histogram(t, m.WebhookToAction, event.LiveChat)
			assert.Equal(t, tc.wantCount, count)
			if tc.wantCount == 1 {
				assert.InDelta(t, 3.0, sum, 0.001, "received_at to the action's confirmation, on the engine's clock")
			}
		})
	}
}
