package rules_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
