package rules_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	. "github.com/chatwarden/chatwarden/rules"
)

// TestRechecksNamingUnknownRulesKeepMetricsBounded: re-check events
// stored by other means (a replay, an older rule file, a forged publish)
// name rules and platforms of their own; the decision metrics label them
// "other" instead of growing a series per name.
func TestRechecksNamingUnknownRulesKeepMetricsBounded(t *testing.T) {
	m := metrics.New()
	h := newHarness(t, []byte(delayedRule), WithMetrics(m))
	for i := 0; i < 200; i++ {
		ev := &event.Event{ID: fmt.Sprintf("re-%d", i), Platform: event.LiveChat, Action: "incoming_chat", ChatID: "C1",
			Source: event.SourceRecheck, Recheck: &event.Recheck{Rule: fmt.Sprintf("no-such-rule-%d", i)}}
		if i%2 == 0 {
			ev.Platform = fmt.Sprintf("platform-%d", i)
		}
		require.NoError(t, h.engine.Handle(context.Background(), ev))
	}
	assert.Len(t, h.audit.Records(), 200, "every re-check is still audited under its own rule name")
	assert.Equal(t, 1, testutil.CollectAndCount(m.RuleDecisions))
	assert.Equal(t, 200.0, testutil.ToFloat64(m.RuleDecisions.WithLabelValues(event.OtherLabel, "skipped")))
	assert.LessOrEqual(t, testutil.CollectAndCount(m.Actions), 2)
}
