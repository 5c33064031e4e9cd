package rules_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	. "github.com/chatwarden/chatwarden/rules"
)

// TestEngineRunsTheActionsItsRulesWereCompiledWith: an engine built without
// WithActions lets Go handlers' c.Do run the actions its rule set was
// compiled with (a registered platform's, in `rules test`), not only
// DefaultActions; WithActions still decides when given.
func TestEngineRunsTheActionsItsRulesWereCompiledWith(t *testing.T) {
	var pings []string
	ping := Define("acme.ping", "Record a ping.", true, func(_ context.Context, c *Call, _ NoParams) error {
		pings = append(pings, c.Rule)
		return nil
	})
	compiledWith, err := NewActions(append(lcp.Actions(), ping)...)
	require.NoError(t, err)
	reg := NewRegistry()
	require.NoError(t, reg.Register("ping", RuleFunc(func(ctx context.Context, c *Call) error {
		return c.Do(ctx, "acme.ping", nil)
	})))

	tests := []struct {
		name      string
		opts      []EngineOption
		wantPings []string
		wantErr   string
	}{
		{name: "the set's actions", wantPings: []string{"r"}},
		{name: "WithActions decides", opts: []EngineOption{WithActions(DefaultActions())}, wantErr: `unknown action "acme.ping"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pings = nil
			set, err := LoadBytes([]byte("rules:\n  - {name: r, on: [livechat.incoming_chat], handler: ping}\n"), "t", compiledWith, reg)
			require.NoError(t, err)
			e := NewEngine(set, clientsFunc(func(string) (LiveChatAPI, error) { return nil, ErrNoCredentials }), &memAudit{}, tt.opts...)
			err = e.Handle(context.Background(), &event.Event{ID: "e1", Platform: event.LiveChat, Action: "incoming_chat", ChatID: "C1", ThreadID: "T1"})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantPings, pings)
			_, ok := e.Actions()["acme.ping"]
			assert.True(t, ok)
		})
	}
}

// acme is a platform of these tests only; it must be known to package
// event for rules to name its webhook actions in `on`.
func init() {
	if err := event.RegisterWebhookActions("acme", "created"); err != nil {
		panic(err)
	}
}

// TestEngineAsksThePlatformsItWasGiven: an engine classifies an error a
// platform's action returns unclassified with that platform's Classify, and
// enriches a chat with its Enrich (once per event however many rules ask,
// timed in the latency metric under EnrichCall); without hooks, the same
// error is retried and the rules see the webhook's chat.
func TestEngineAsksThePlatformsItWasGiven(t *testing.T) {
	errRefused := errors.New("acme refused")
	acts, err := NewActions(
		Define("acme.ok", "Succeed.", true, func(context.Context, *Call, NoParams) error { return nil }),
		Define("acme.fail", "Fail.", true, func(context.Context, *Call, NoParams) error { return errRefused }))
	require.NoError(t, err)
	var enriched int
	acme := PlatformHooks{
		Classify: func(_ context.Context, err error) error { return consumer.Permanent("acme_refusal", err) },
		Enrich: func(_ context.Context, _ Clients, ev *event.Event, _ time.Time) (ChatEnv, error) {
			enriched++
			return ChatEnv{ID: ev.ChatID, Tags: []string{"vip"}}, nil
		},
		EnrichCall: "get_conversation",
	}
	const yaml = "rules:\n" +
		"  - {name: a, on: [acme.created], enrich: chat, if: '\"vip\" in chat.tags', then: [{acme.ok: {}}]}\n" +
		"  - {name: b, on: [acme.created], enrich: chat, if: '\"vip\" in chat.tags', then: [{acme.ok: {}}]}\n" +
		"  - {name: c, on: [acme.created], then: [{acme.fail: {}}]}\n"
	tests := []struct {
		name          string
		hooks         map[string]PlatformHooks
		wantOutcomes  map[string][]string
		wantPermanent bool
		wantEnriched  int
	}{
		{name: "the platform's hooks", hooks: map[string]PlatformHooks{"acme": acme}, wantPermanent: true, wantEnriched: 1,
			wantOutcomes: map[string][]string{"a": {"acted:acme.ok"}, "b": {"acted:acme.ok"}, "c": {"failed:acme.fail"}}},
		{name: "no hooks", wantEnriched: 0,
			wantOutcomes: map[string][]string{"a": {"skipped"}, "b": {"skipped"}, "c": {"failed:acme.fail"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enriched = 0
			set, err := LoadBytes([]byte(yaml), "t", acts, NewRegistry())
			require.NoError(t, err)
			aud := &memAudit{}
			m := metrics.New()
			e := NewEngine(set, ClientMap{}, aud, WithPlatforms(tt.hooks), WithMetrics(m))
			err = e.Handle(context.Background(), &event.Event{ID: "e1", Platform: "acme", Action: "created", ChatID: "C1"})
			require.ErrorIs(t, err, errRefused)
			permanent, _ := consumer.Classify(err)
			assert.Equal(t, tt.wantPermanent, permanent)
			if tt.wantPermanent {
				assert.Contains(t, err.Error(), "acme_refusal")
			}
			assert.Equal(t, tt.wantOutcomes, aud.ByRule())
			assert.Equal(t, tt.wantEnriched, enriched)
			assert.Equal(t, uint64(tt.wantEnriched), latencyCount(t, m, "get_conversation"))
		})
	}
}

// latencyCount is how many calls chatwarden_action_duration_seconds timed
// for operation.
func latencyCount(t *testing.T, m *metrics.Metrics, operation string) uint64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "chatwarden_action_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == operation {
					n += mt.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}
