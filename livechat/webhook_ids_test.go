package livechat

import (
	"encoding/json"
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
		{"escaped key", "chat_deactivated", `{"chat_\u0069d":"C5","thread_id":"T5"}`, "C5", "T5"},
		{"duplicate payload: the last one, whole", "chat_deactivated", `{"chat_id":"C1"},"payload":{"thread_id":"T9"}`, "", "T9"},
		{"ids of another action's place are not read", "chat_deactivated", `{"chat":{"id":"C1"},"active_chat":{"chat_id":"C2"}}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ok := scanWebhook([]byte(`{"action":"` + tc.action + `","payload":` + tc.payload + `}`))
			if !assert.True(t, ok, "valid JSON") {
				return
			}
			chat, thread := sc.ids(tc.action)
			assert.Equal(t, tc.chat, chat, "chat id")
			assert.Equal(t, tc.thread, thread, "thread id")
		})
	}
}

// TestNestingLimit checks encoding/json's nesting limit on both sides of
// maxDepth, and that brackets inside strings do not count.
func TestNestingLimit(t *testing.T) {
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
	valid := func(b []byte) bool {
		_, ok := scanWebhook(b)
		assert.Equal(t, json.Valid(b), ok, "as encoding/json judges it")
		return ok
	}
	assert.True(t, valid(nest(maxDepth)), "at the limit")
	assert.False(t, valid(nest(maxDepth+1)), "one past the limit")
	many := append([]byte(`{"s":"`), make([]byte, 2*maxDepth)...)
	for i := len(`{"s":"`); i < len(many); i++ {
		many[i] = '['
	}
	many = append(many, `"}`...)
	assert.True(t, valid(many), "brackets in a string")
	flat := []byte("[")
	for range maxDepth + 5 {
		flat = append(flat, "[],"...)
	}
	flat = append(flat, "[]]"...)
	assert.True(t, valid(flat), "many brackets, shallow")
}

// TestScanIsEncodingJSONsValid: what the one-pass scan accepts is what
// json.Valid accepts, on the grammar's corners.
func TestScanIsEncodingJSONsValid(t *testing.T) {
	for _, body := range []string{
		``, ` `, `{}`, ` {} `, `{}x`, `{"a":1}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{a:1}`, `[]`, `[1,]`, `[,1]`,
		`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-05`, `1e`, `1e+`, `-1.5e3`, `+1`,
		`true`, `tru`, `false`, `null`, `nul`, `NaN`, `"a"`, `"a`, `"\u00e9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, `"\/"`,
		"\"tab\there\"", "\"a\x7fb\"", "\"\xff\xfe\"", `"\"`, `"\\"`, `{"a":"b"} {"c":"d"}`, "{\"a\":1}\x00",
		`{"a":[{"b":[1,2,{"c":null}]}]}`, `{"action":"x","payload":{"chat_id":"C"}}`, "\t{\n\"a\"\r:\t1\n}\n",
	} {
		_, ok := scanWebhook([]byte(body))
		assert.Equal(t, json.Valid([]byte(body)), ok, "%q", body)
	}
}

// scanWebhook is a scan of body, and whether it is valid JSON.
func scanWebhook(body []byte) (*scan, bool) {
	s := new(scan)
	return s, s.run(body)
}
