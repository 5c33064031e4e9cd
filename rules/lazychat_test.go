package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/rules"
)

// TestChatBuiltOnlyForRulesThatReadIt: decoding incoming_chat's whole
// chat is the worker's largest cost per event; a rule that reads nothing
// of the chat but its ids (which the event carries) must not pay for it,
// and one that reads it gets it, built once per event.
func TestChatBuiltOnlyForRulesThatReadIt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rule      string
		wantBuilt bool
	}{
		{"action on the event's ids only", "    then:\n      - livechat.tag_thread: {tag: x}\n", false},
		{"condition on the event only", "    if: event.action == \"incoming_chat\"\n    then:\n      - livechat.tag_thread: {tag: x}\n", false},
		{"condition on the chat", "    if: chat.active\n    then:\n      - livechat.tag_thread: {tag: x}\n", true},
		{"enrichment", "    enrich: properties\n    then:\n      - livechat.tag_thread: {tag: x}\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, []byte("rules:\n  - name: r\n    on: [livechat.incoming_chat]\n"+tc.rule))
			h.fake.AddChat(unassignedChat("C1"))
			ev := h.webhook(t, "incoming_chat", "C1", nil)
			require.NotEmpty(t, ev.ThreadID)
			built, err := h.engine.ApplyFirstRule(context.Background(), ev, h.now)
			require.NoError(t, err)
			assert.Equal(t, tc.wantBuilt, built)
			assert.Equal(t, []string{"acted:livechat.tag_thread"}, h.audit.ByRule()["r"], "the rule acted either way")
		})
	}
}

// TestEventReadOncePerEvent: however many rules ask for the chat with
// enrich: properties, the engine reads the event's additional data for the
// chat's properties once, builds the chat from the webhook once, and fetches
// it at most once (when the webhook carries no properties).
func TestEventReadOncePerEvent(t *testing.T) {
	const rulesYAML = `
rules:
  - name: a
    on: [livechat.incoming_chat]
    enrich: properties
    if: chat.id != ""
    then: [{livechat.tag_thread: {tag: a}}]
  - name: b
    on: [livechat.incoming_chat]
    enrich: properties
    if: event.payload.chat.id != "" && chat.id != ""
    then: [{livechat.tag_thread: {tag: b}}]
  - name: c
    on: [livechat.incoming_chat]
    enrich: properties
    if: chat.properties.routing.pinned == true
    then: [{livechat.tag_thread: {tag: c}}]
`
	for _, tc := range []struct {
		name       string
		additional string
		wantBuilt  int
		wantFetch  int
	}{
		{"the webhook carries the properties", `{"chat_properties": {"routing": {"pinned": true}}}`, 1, 0},
		{"the webhook carries none", ``, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooks := shippedHooks()
			lcHooks := hooks[event.LiveChat]
			built, chat := 0, lcHooks.Chat
			lcHooks.Chat = func(ev *event.Event, now time.Time) rules.ChatEnv { built++; return chat(ev, now) }
			hooks[event.LiveChat] = lcHooks
			h := newHarness(t, []byte(rulesYAML), rules.WithPlatforms(hooks))
			checks := h.engine.CountPropertiesChecks()
			c := unassignedChat("C1")
			c.Properties = map[string]map[string]any{"routing": {"pinned": true}}
			h.fake.AddChat(c)
			ev := h.webhook(t, "incoming_chat", "C1", nil)
			if tc.additional != "" {
				ev.AdditionalData = []byte(tc.additional)
			}

			require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
			assert.Equal(t, 1, *checks, "additional data read for properties")
			assert.Equal(t, tc.wantBuilt, built, "chats built from the webhook")
			assert.Len(t, h.fake.CallsTo("get_chat"), tc.wantFetch, "fetches")
			assert.Len(t, h.fake.CallsTo("tag_thread"), 3, "every rule saw the properties")
		})
	}
}
