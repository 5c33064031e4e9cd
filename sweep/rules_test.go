package sweep_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/service"
	"github.com/chatwarden/chatwarden/sweep"
)

// memAudit keeps audit records in memory.
type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memAudit) Write(_ context.Context, r audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memAudit) outcomes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.recs {
		o := r.Rule + ":" + r.Outcome
		if r.Operation != "" {
			o += ":" + r.Operation
		}
		out = append(out, o)
	}
	return out
}

func clientsOf(t *testing.T, fake *livechattest.Server) rules.Clients {
	t.Helper()
	url, stop := fake.Start()
	t.Cleanup(stop)
	clients, err := service.NewLiveChatClients(config.LiveChat{APIURL: url, PAT: config.PAT{AccountID: "acc", Token: "tok"},
		RequestTimeout: 5 * time.Second}, nil, nil)
	require.NoError(t, err)
	return clients
}

// sweptEvent is the sweep event of the chat as the fake holds it now.
func sweptEvent(t *testing.T, fake *livechattest.Server, id string, olderThan time.Duration) *event.Event {
	t.Helper()
	c, ok := fake.Chat(id)
	require.True(t, ok)
	ev, err := sweep.NewEvent(sweep.Chat{ID: c.ID, ThreadID: c.Thread.ID, StartedAt: c.Thread.CreatedAt, Row: c},
		sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: olderThan}, sweep.TriggerCommand, time.Now(), time.Now())
	require.NoError(t, err)
	return ev
}

func TestBuiltinRule(t *testing.T) {
	const rule = sweep.BuiltinRuleName
	tests := []struct {
		name      string
		age       time.Duration
		olderThan time.Duration
		meanwhile func(c *livechat.Chat) // after the sweep found it
		dryRun    bool
		want      string
		wantUnpin bool
	}{
		{"still pinned, unassigned and old enough: unpins", 72 * time.Hour, 48 * time.Hour, nil, false, rule + ":acted:livechat.unpin", true},
		{"an agent took it meanwhile: skipped", 72 * time.Hour, 48 * time.Hour, func(c *livechat.Chat) {
			c.Thread.Properties["routing"]["unassigned"] = false
		}, false, rule + ":skipped", false},
		{"unpinned meanwhile: skipped", 72 * time.Hour, 48 * time.Hour, func(c *livechat.Chat) {
			c.Properties["routing"]["pinned"] = false
		}, false, rule + ":skipped", false},
		{"a new thread started meanwhile, too young: skipped", 72 * time.Hour, 48 * time.Hour, func(c *livechat.Chat) {
			c.Thread.ID, c.Thread.CreatedAt = "T-NEW", time.Now().Add(-time.Hour)
		}, false, rule + ":skipped", false},
		{"a sweep of any age acts on a young chat", time.Hour, 0, nil, false, rule + ":acted:livechat.unpin", true},
		{"dry run: recorded, not done", 72 * time.Hour, 48 * time.Hour, nil, true, rule + ":dry_run:livechat.unpin", false},
	}
	set, err := sweep.BuiltinRuleSet(nil)
	require.NoError(t, err)
	require.Equal(t, 1, set.Len())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := livechattest.New()
			fake.AddChat(unassigned("C1", tt.age))
			aud := &memAudit{}
			engine := rules.NewEngine(set, clientsOf(t, fake), aud, rules.WithDryRun(tt.dryRun), rules.WithPlatforms(platform.Hooks()))
			ev := sweptEvent(t, fake, "C1", tt.olderThan)
			if tt.meanwhile != nil {
				c, _ := fake.Chat("C1")
				tt.meanwhile(&c)
				fake.AddChat(c)
			}
			require.NoError(t, engine.Handle(context.Background(), ev))
			assert.Equal(t, []string{tt.want}, aud.outcomes())
			assert.Len(t, fake.CallsTo("get_chat"), 1, "the rule checks the chat's current state")
			c, _ := fake.Chat("C1")
			assert.Equal(t, tt.wantUnpin, !c.Pinned() && tt.meanwhile == nil)
			if !tt.wantUnpin {
				assert.Empty(t, fake.CallsTo("update_chat_properties"))
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want bool
	}{
		{"no rules", "rules: []\n", false},
		{"a rule for other actions", "rules:\n  - {name: a, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n", false},
		{"livechat.* does not replace it", "rules:\n  - {name: a, on: 'livechat.*', then: [{livechat.tag_thread: {tag: x}}]}\n", false},
		{"a rule naming the sweep action replaces it", "rules:\n  - {name: mine, on: [livechat.chat_deactivated, livechat.sweep_unassigned], then: [{livechat.deactivate_chat: {}}]}\n", true},
		{"a rule with its name replaces it", "rules:\n  - {name: sweep-unpin-unassigned, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := rules.LoadBytes([]byte(tt.yaml), "test", platform.Actions(), rules.NewRegistry())
			require.NoError(t, err)
			assert.Equal(t, tt.want, sweep.Overrides(set))
		})
	}
	assert.False(t, sweep.Overrides(nil))
}

func TestWithBuiltinRule(t *testing.T) {
	swept := &event.Event{ID: "e1", Platform: event.LiveChat, Action: sweep.ActionUnassigned, ChatID: "C1"}
	webhook := &event.Event{ID: "e2", Platform: event.LiveChat, Action: "chat_deactivated", ChatID: "C1"}
	permanent := consumer.Permanent("validation", errors.New("bad"))
	retry := consumer.Retry(errors.New("429"), 3*time.Second)
	tests := []struct {
		name             string
		rulesYAML        string
		ev               *event.Event
		nextErr, builtIn error
		wantNext         bool
		wantBuiltin      bool
		wantErr          string // "", "permanent" or "retry"
		wantHint         time.Duration
	}{
		{"swept chat, no rule of its own: both", "rules: []\n", swept, nil, nil, true, true, "", 0},
		{"swept chat, livechat.* rule: both", "rules:\n  - {name: a, on: 'livechat.*', then: [{livechat.tag_thread: {tag: x}}]}\n", swept, nil, nil, true, true, "", 0},
		{"swept chat, rule file's own sweep rule: that only", "rules:\n  - {name: a, on: livechat.sweep_unassigned, then: [{livechat.unpin: {}}]}\n", swept, nil, nil, true, false, "", 0},
		{"webhook: rule file only", "rules: []\n", webhook, nil, nil, true, false, "", 0},
		{"built-in fails permanently", "rules: []\n", swept, nil, permanent, true, true, "permanent", 0},
		{"one permanent, one retryable: retried", "rules: []\n", swept, permanent, retry, true, true, "retry", 3 * time.Second},
		{"both permanent: dead-lettered", "rules: []\n", swept, permanent, permanent, true, true, "permanent", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := rules.LoadBytes([]byte(tt.rulesYAML), "test", platform.Actions(), rules.NewRegistry())
			require.NoError(t, err)
			var gotNext, gotBuiltin bool
			next := consumer.HandlerFunc(func(context.Context, *event.Event) error { gotNext = true; return tt.nextErr })
			builtin := consumer.HandlerFunc(func(context.Context, *event.Event) error { gotBuiltin = true; return tt.builtIn })
			h := consumer.Chain(next, sweep.WithBuiltinRule(func() *rules.RuleSet { return set }, builtin))
			err = h.Handle(context.Background(), tt.ev)
			assert.Equal(t, tt.wantNext, gotNext)
			assert.Equal(t, tt.wantBuiltin, gotBuiltin)
			switch tt.wantErr {
			case "":
				assert.NoError(t, err)
			default:
				require.Error(t, err)
				permanent, hint := consumer.Classify(err)
				assert.Equal(t, tt.wantErr == "permanent", permanent)
				assert.Equal(t, tt.wantHint, hint)
			}
		})
	}
}
