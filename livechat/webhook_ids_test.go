package livechat

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWebhookIDs checks where each action's chat and thread ids are found,
// with duplicate keys resolved as encoding/json resolves them (the last wins
// at every level), including when the two paths share a prefix.
func TestWebhookIDs(t *testing.T) {
	for _, tc := range []struct {
		name, action, payload string
		chat, thread          string
	}{
		{"incoming_chat", "incoming_chat", `{"chat":{"id":"C1","thread":{"id":"T1"}}}`, "C1", "T1"},
		{"incoming_chat, thread first", "incoming_chat", `{"chat":{"thread":{"id":"T1"},"id":"C1"}}`, "C1", "T1"},
		{"incoming_chat, duplicate chat: the last one, whole", "incoming_chat",
			`{"chat":{"id":"C1","thread":{"id":"T1"}},"chat":{"id":"C2"}}`, "C2", ""},
		{"incoming_chat, duplicate thread", "incoming_chat",
			`{"chat":{"thread":{"id":"T1"},"id":"C1","thread":{"id":"T2"},"id":"C3"}}`, "C3", "T2"},
		{"incoming_chat, thread is not an object", "incoming_chat", `{"chat":{"id":"C1","thread":"T1"}}`, "C1", ""},
		{"incoming_chat, chat is not an object", "incoming_chat", `{"chat":["C1"]}`, "", ""},
		{"incoming_chat, numeric id", "incoming_chat", `{"chat":{"id":7,"thread":{"id":"T"}}}`, "", "T"},
		{"chat_access_updated: id, no thread", "chat_access_updated", `{"id":"C1","thread_id":"T1"}`, "C1", ""},
		{"customer_session_fields_updated", "customer_session_fields_updated",
			`{"active_chat":{"chat_id":"C1","thread_id":"T1"},"active_chat":{"chat_id":"C2","thread_id":"T2"}}`, "C2", "T2"},
		{"chat_deactivated", "chat_deactivated", `{"chat_id":"C1","thread_id":"T1","chat_id":"C4"}`, "C4", "T1"},
		{"chat_deactivated, nested ids are not top-level ones", "chat_deactivated", `{"x":{"chat_id":"C1"}}`, "", ""},
		{"escaped id", "chat_deactivated", `{"chat_id":"C\u0031"}`, "C1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chat, thread := webhookIDs(tc.action, []byte(tc.payload))
			assert.Equal(t, tc.chat, chat, "chat id")
			assert.Equal(t, tc.thread, thread, "thread id")
		})
	}
}

// TestTooDeep checks the nesting limit on both sides of maxDepth, and that
// brackets inside strings do not count.
func TestTooDeep(t *testing.T) {
	nest := func(n int) []byte {
		b := make([]byte, 0, 2*n+1)
		for range n {
			b = append(b, '[')
		}
		b = append(b, '1')
		for range n {
			b = append(b, ']')
		}
		return b
	}
	assert.False(t, tooDeep(nest(maxDepth)), "at the limit")
	assert.True(t, tooDeep(nest(maxDepth+1)), "one past the limit")
	many := append([]byte(`{"s":"`), make([]byte, 2*maxDepth)...)
	for i := len(`{"s":"`); i < len(many); i++ {
		many[i] = '['
	}
	many = append(many, `"}`...)
	assert.False(t, tooDeep(many), "brackets in a string")
	flat := []byte("[")
	for range maxDepth + 5 {
		flat = append(flat, "[],"...)
	}
	flat = append(flat, "[]]"...)
	assert.False(t, tooDeep(flat), "many brackets, shallow")
}
