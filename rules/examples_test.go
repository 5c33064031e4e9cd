package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/examples"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	. "github.com/chatwarden/chatwarden/rules"
)

// TestExampleRules runs examples/rules.yaml (with dry run off) over the
// fixtures and checks, for every rule, where it acts and where it does not.
func TestExampleRules(t *testing.T) {
	unassigned := func(id string) livechat.Chat {
		c := livechattest.UnassignedChat(id, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
		c.Thread.ID = "T-" + id
		return c
	}
	inactive := func(c livechat.Chat) *livechat.Chat {
		c.Thread.Active = false
		return &c
	}
	assigned := func(id string) livechat.Chat {
		c := unassigned(id)
		c.Thread.Properties["routing"]["unassigned"] = false
		c.Properties["routing"]["pinned"] = false
		c.Users = append(c.Users, livechat.User{ID: "agent@example.com", Type: livechat.UserAgent})
		return c
	}
	tests := []struct {
		name    string
		action  string
		edit    func(payload map[string]any)
		chat    *livechat.Chat
		want    map[string][]string // rule → audit outcomes; rules not listed must not appear
		calls   []string            // API calls besides get_chat, in order
		resched int                 // re-checks scheduled
	}{
		{
			name: "deactivated pinned unassigned chat is unpinned", action: "chat_deactivated", chat: inactive(unassigned("C1")),
			want:  map[string][]string{"unpin-abandoned-unassigned": {"acted:livechat.unpin"}},
			calls: []string{"update_chat_properties"},
		},
		{
			name: "deactivated assigned chat is left alone", action: "chat_deactivated", chat: inactive(assigned("C1")),
			want: map[string][]string{"unpin-abandoned-unassigned": {"skipped"}},
		},
		{
			name: "new unassigned chat from the pricing page: tagged, re-check in 48h", action: "incoming_chat", chat: ptr(unassigned("C1")),
			want: map[string][]string{
				"unpin-unassigned-after-48h": {"scheduled"},
				"route-offline-group-chats":  {"skipped"},
				"tag-pricing-chats":          {"acted:livechat.tag_thread"},
			},
			calls: []string{"tag_thread"}, resched: 1,
		},
		{
			name: "new unassigned chat of an offline group is transferred to group 0", action: "incoming_chat", chat: ptr(unassigned("C1")),
			edit: func(p map[string]any) {
				chat := p["chat"].(map[string]any)
				chat["access"] = map[string]any{"group_ids": []any{3}}
				th := chat["thread"].(map[string]any)
				th["access"] = map[string]any{"group_ids": []any{3}}
				routing := th["properties"].(map[string]any)["routing"].(map[string]any)
				routing["group_status_at_start"] = "offline"
				routing["start_url"] = "https://www.example.com/blog"
			},
			want: map[string][]string{
				"unpin-unassigned-after-48h": {"scheduled"},
				"route-offline-group-chats":  {"acted:livechat.transfer_chat"},
				"tag-pricing-chats":          {"skipped"},
			},
			calls: []string{"transfer_chat"}, resched: 1,
		},
		{
			name: "new assigned chat: no re-check", action: "incoming_chat", chat: ptr(assigned("C1")),
			edit: func(p map[string]any) {
				th := p["chat"].(map[string]any)["thread"].(map[string]any)
				th["properties"].(map[string]any)["routing"].(map[string]any)["unassigned"] = false
			},
			want: map[string][]string{
				"unpin-unassigned-after-48h": {"skipped"},
				"route-offline-group-chats":  {"skipped"},
				"tag-pricing-chats":          {"acted:livechat.tag_thread"},
			},
			calls: []string{"tag_thread"},
		},
		{
			name: "transfer for inactivity is tagged and noted", action: "chat_transferred", chat: ptr(assigned("C1")),
			edit:  func(p map[string]any) { p["reason"] = "inactive" },
			want:  map[string][]string{"note-inactivity-transfers": {"acted:livechat.tag_thread", "acted:livechat.send_event"}},
			calls: []string{"tag_thread", "send_event"},
		},
		{
			name: "manual transfer is not noted", action: "chat_transferred", chat: ptr(assigned("C1")),
			want: map[string][]string{"note-inactivity-transfers": {"skipped"}},
		},
		{
			name: "triage bot switched off is switched back on", action: "routing_status_set",
			edit:  func(p map[string]any) { p["agent_id"] = "triage-bot@example.com" },
			want:  map[string][]string{"keep-triage-bot-accepting": {"acted:livechat.set_routing_status"}},
			calls: []string{"set_routing_status"},
		},
		{
			name: "another agent's status is not touched", action: "routing_status_set",
			want: map[string][]string{"keep-triage-bot-accepting": {"skipped"}},
		},
		{
			name: "triage bot already accepting is not touched", action: "routing_status_set",
			edit: func(p map[string]any) { p["agent_id"] = "triage-bot@example.com"; p["status"] = "accepting_chats" },
			want: map[string][]string{"keep-triage-bot-accepting": {"skipped"}},
		},
		{
			name: "events no rule listens to", action: "thread_tagged", chat: ptr(unassigned("C1")),
			want: map[string][]string{},
		},
	}
	set, err := LoadBytes(examples.Rules, examples.RulesSource, DefaultActions(), NewRegistry())
	require.NoError(t, err)
	require.Len(t, set.Rules(), 6)
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWithSet(t, set)
			if tt.chat != nil {
				h.fake.AddChat(*tt.chat)
			}
			ev := h.webhook(t, tt.action, "C1", tt.edit)
			require.NoError(t, h.engine.Handle(context.Background(), ev))
			assert.Equal(t, tt.want, h.audit.ByRule())
			var calls []string
			for _, c := range h.fake.Calls() {
				if c.Action != "get_chat" {
					calls = append(calls, c.Action)
				}
			}
			assert.Equal(t, tt.calls, calls)
			assert.Len(t, h.rechecks(), tt.resched)
			for rule, outcomes := range tt.want {
				for _, o := range outcomes {
					if o != "skipped" {
						covered[rule] = true
					}
				}
			}
		})
	}
	for _, r := range set.Rules() {
		assert.True(t, covered[r.Name], "rule %s never acted in the table", r.Name)
	}
}

func ptr[T any](v T) *T { return &v }
