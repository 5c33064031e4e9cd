package rules_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	. "github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/rules/enginetest"
	"github.com/chatwarden/chatwarden/samples"
)

// memAudit and memScheduler are the engine's in-memory audit and
// scheduler.
type (
	memAudit     = enginetest.Audit
	memScheduler = enginetest.Scheduler
)

// clientsFunc gives the LiveChat client of a tenant; the other platforms
// have no credentials.
type clientsFunc func(tenant string) (LiveChatAPI, error)

func (f clientsFunc) Client(platform, tenant string) (any, error) {
	switch platform {
	case event.LiveChat:
		return f(tenant)
	case event.HelpCrunch:
		return nil, NoCredentials("HelpCrunch", "not in this test")
	}
	return nil, NoCredentials("Rocket.Chat", "not in this test")
}

// rechecks are the re-check events scheduled so far, recheckTimes when.
func (h *harness) rechecks() []*event.Event {
	evs, _ := h.sched.Scheduled()
	return evs
}

func (h *harness) recheckTimes() []time.Time {
	_, at := h.sched.Scheduled()
	return at
}

type harness struct {
	fake   *livechattest.Server
	audit  *memAudit
	sched  *memScheduler
	engine *Engine
	now    time.Time
}

func newHarness(t *testing.T, rulesYAML []byte, opts ...EngineOption) *harness {
	t.Helper()
	set, err := LoadBytes(rulesYAML, "test", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	return newHarnessWithSet(t, set, opts...)
}

func newHarnessWithSet(t *testing.T, set *RuleSet, opts ...EngineOption) *harness {
	t.Helper()
	h := &harness{fake: livechattest.New(), audit: &memAudit{}, sched: &memScheduler{},
		now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	url, stop := h.fake.Start()
	t.Cleanup(stop)
	client, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)
	opts = append([]EngineOption{WithScheduler(h.sched), WithClock(func() time.Time { return h.now }), WithPlatforms(shippedHooks())}, opts...)
	h.engine = NewEngine(set, clientsFunc(func(string) (LiveChatAPI, error) { return client, nil }), h.audit, opts...)
	return h
}

// webhook parses a fixture into an event received at h.now.
func (h *harness) webhook(t *testing.T, action, chat string, edit func(map[string]any)) *event.Event {
	t.Helper()
	body := samples.LiveChat(action, "s", chat, "T-"+chat)
	if edit != nil {
		var m map[string]any
		require.NoError(t, json.Unmarshal(body, &m))
		edit(m["payload"].(map[string]any))
		var err error
		body, err = json.Marshal(m)
		require.NoError(t, err)
	}
	ev, _, err := livechat.ParseWebhook(body, h.now)
	require.NoError(t, err)
	return ev
}
