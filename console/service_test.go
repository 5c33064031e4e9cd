package console_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/dlq"
)

// The console's API over the running service: what the workers decided,
// joined with the events, per chat and per rule; and the metrics the
// Grafana dashboard reads.
func TestConsoleOverTheRunningService(t *testing.T) {
	s := startScenario(t)
	s.postAll(t)

	var page console.Page
	require.Equal(t, http.StatusOK, s.api(t, http.MethodGet, "/admin/api/events", &page))
	require.Len(t, page.Entries, 5)
	byChat := map[string]console.Entry{}
	for _, e := range page.Entries {
		require.NotNil(t, e.Event)
		byChat[e.Event.ChatID] = e
	}
	outcomes := func(chat string) []string {
		var out []string
		for _, d := range byChat[chat].Decisions {
			out = append(out, d.Rule+" "+d.Outcome)
		}
		return out
	}
	assert.Equal(t, []string{"unpin-abandoned-unassigned acted"}, outcomes(chatUnpinned))
	assert.Equal(t, []string{"unpin-abandoned-unassigned skipped"}, outcomes(chatAssigned))
	assert.Equal(t, []string{"tag-transfers acted"}, outcomes(chatTransfer))
	assert.Equal(t, []string{"note-pricing-visitors dry_run"}, outcomes(chatPricing))
	assert.Equal(t, []string{"unpin-abandoned-unassigned failed"}, outcomes(chatMissing))
	require.Len(t, byChat[chatMissing].DeadLetters, 1)
	assert.Equal(t, "permanent", byChat[chatMissing].DeadLetters[0].Reason)

	var tl console.Timeline
	require.Equal(t, http.StatusOK, s.api(t, http.MethodGet, "/admin/api/timeline?chat_id="+chatUnpinned, &tl))
	require.Len(t, tl.Entries, 1)
	require.Len(t, tl.Entries[0].Decisions, 1)
	assert.Equal(t, "livechat.unpin", tl.Entries[0].Decisions[0].Operation)

	var rules console.RuleSet
	require.Equal(t, http.StatusOK, s.api(t, http.MethodGet, "/admin/api/rules", &rules))
	require.Len(t, rules.Rules, 3)
	assert.False(t, rules.DryRunAll)
	assert.Equal(t, map[string]int{audit.Acted: 1, audit.Skipped: 1, audit.Failed: 1}, rules.Rules[0].Hits)
	assert.Equal(t, map[string]int{audit.Acted: 1}, rules.Rules[1].Hits)
	assert.Equal(t, map[string]int{audit.DryRun: 1}, rules.Rules[2].Hits)
	assert.True(t, rules.Rules[2].DryRun)

	var ov console.Overview
	require.Equal(t, http.StatusOK, s.api(t, http.MethodGet, "/admin/api/overview", &ov))
	assert.EqualValues(t, 5, ov.Counters["webhooks_received_total"].Total)
	assert.EqualValues(t, 1, ov.Counters["dead_letters_total"].Total)
	assert.EqualValues(t, 2, ov.Counters["actions_total"].By[audit.Acted])
	assert.Len(t, ov.Consumers, 4, "one worker consumer per partition")

	// Retry the dead letter once its cause is fixed, as the console's button
	// does (POST /admin/dlq/{seq}/retry): the chat then gets unpinned.
	seq := byChat[chatMissing].DeadLetters[0].Seq
	fakeChat := chatMissing
	s.fake.AddChat(unassigned(fakeChat))
	var res dlq.Result
	require.Equal(t, http.StatusOK, s.api(t, http.MethodPost, "/admin/dlq/"+itoa(seq)+"/retry", &res))
	assert.Equal(t, dlq.Retried, res.Outcome)
	s.waitIdle(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var tl console.Timeline
		require.Equal(c, http.StatusOK, s.api(c, http.MethodGet, "/admin/api/timeline?chat_id="+chatMissing, &tl))
		for _, e := range tl.Entries {
			for _, d := range e.Decisions {
				if d.Outcome == audit.Acted {
					assert.Empty(c, e.DeadLetters, "the acted entry has no dead letter")
					return
				}
			}
		}
		assert.Fail(c, "no acted entry in the timeline", "%+v", tl.Entries)
	}, 10*time.Second, 50*time.Millisecond)

	// The metrics the dashboard reads, as Prometheus would scrape them. The
	// stream and consumer gauges are refreshed from JetStream every 5s.
	for _, want := range []struct {
		name   string
		labels []string
	}{
		{"chatwarden_consumer_pending", []string{`stream="CHATWARDEN_EVENTS"`, `consumer="chatwarden-workers-p0"`, `partition="0"`}},
		{"chatwarden_consumer_ack_pending", []string{`consumer="chatwarden-workers-p3"`, `partition="3"`}},
		{"chatwarden_consumer_redelivered", []string{`consumer="chatwarden-workers-p1"`, `partition="1"`}},
		{"chatwarden_stream_messages", []string{`stream="CHATWARDEN_EVENTS"`}},
		{"chatwarden_api_responses_total", []string{`platform="livechat"`, `status="200"`}},
		{"chatwarden_api_responses_total", []string{`platform="livechat"`, `status="404"`}},
		{"chatwarden_rule_decisions_total", []string{`rule="unpin-abandoned-unassigned"`, `outcome="acted"`}},
		{"chatwarden_rule_decisions_total", []string{`rule="note-pricing-visitors"`, `outcome="dry_run"`}},
	} {
		assert.EventuallyWithT(t, func(c *assert.CollectT) { assert.True(c, hasSeries(s.scrape(c), want.name, want.labels...)) }, 10*time.Second, 50*time.Millisecond,
			"%s%v in /metrics", want.name, want.labels)
	}
}
