package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/samples"
)

// boundsCase is one webhook of the receiver bounds tables: wantErr is the
// whole "error" of a 400 answer ("" for 200).
type boundsCase struct {
	name       string
	body       []byte
	wantStatus int
	wantErr    string
}

// setJSON returns body with the value at path (dot-separated object keys)
// set to v.
func setJSON(t *testing.T, body []byte, path string, v any) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	keys := strings.Split(path, ".")
	obj := m
	for _, k := range keys[:len(keys)-1] {
		next, ok := obj[k].(map[string]any)
		require.True(t, ok, "%s: %s is not an object", path, k)
		obj = next
	}
	obj[keys[len(keys)-1]] = v
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// overBy is the message for a field of n bytes over limit.
func overBy(field string, n, limit int) string {
	return fmt.Sprintf("%s is %d bytes; at most %d allowed", field, n, limit)
}

// checkBoundsCase posts tc with post and checks the answer, what was stored
// and the rejection counted for platform.
func checkBoundsCase(t *testing.T, ts *testServer, platform string, tc boundsCase, post func([]byte) (*http.Response, []byte)) {
	t.Helper()
	resp, body := post(tc.body)
	require.Equal(t, tc.wantStatus, resp.StatusCode, "body: %s", body)
	rejected := testutil.ToFloat64(ts.metrics.WebhooksRejected.WithLabelValues(platform, reasonMalformed))
	if tc.wantStatus == http.StatusOK {
		assert.Empty(t, body)
		assert.Len(t, ts.pub.published(), 1)
		assert.Zero(t, rejected)
		return
	}
	assert.Empty(t, ts.pub.published(), "nothing is stored")
	if tc.wantErr != "" {
		var answer map[string]string
		require.NoError(t, json.Unmarshal(body, &answer), "%s", body)
		assert.Equal(t, tc.wantErr, answer["error"])
		assert.Equal(t, 1.0, rejected, "counted as malformed")
	}
}

func TestLiveChatWebhookBounds(t *testing.T) {
	valid := samples.LiveChat("chat_deactivated", "s3cret", "CHAT1", "THREAD1")
	set := func(path string, v any) []byte { return setJSON(t, valid, path, v) }
	at := func(n int) string { return strings.Repeat("a", n) }
	incoming := samples.LiveChat("incoming_chat", "s3cret", "CHAT1", "THREAD1")

	tests := []boundsCase{
		{name: "action at the limit", body: set("action", at(event.MaxActionLen)), wantStatus: 200},
		{name: "action one over", body: set("action", at(event.MaxActionLen+1)), wantStatus: 400,
			wantErr: overBy("action", event.MaxActionLen+1, event.MaxActionLen)},
		{name: "action of 5000 characters (issue 18)", body: set("action", at(5000)), wantStatus: 400,
			wantErr: "action is 5000 bytes; at most 128 allowed"},
		{name: "chat_id at the limit", body: set("payload.chat_id", at(event.MaxIDLen)), wantStatus: 200},
		{name: "chat_id one over", body: set("payload.chat_id", at(event.MaxIDLen+1)), wantStatus: 400,
			wantErr: overBy("chat_id", event.MaxIDLen+1, event.MaxIDLen)},
		{name: "chat_id of 4100 characters (issue 18)", body: set("payload.chat_id", at(4100)), wantStatus: 400,
			wantErr: "chat_id is 4100 bytes; at most 128 allowed"},
		{name: "incoming_chat chat.id over", body: setJSON(t, incoming, "payload.chat.id", at(4100)), wantStatus: 400,
			wantErr: overBy("chat_id", 4100, event.MaxIDLen)},
		{name: "incoming_chat chat.thread.id over", body: setJSON(t, incoming, "payload.chat.thread.id", at(200)), wantStatus: 400,
			wantErr: overBy("thread_id", 200, event.MaxIDLen)},
		{name: "thread_id at the limit", body: set("payload.thread_id", at(event.MaxIDLen)), wantStatus: 200},
		{name: "thread_id one over", body: set("payload.thread_id", at(event.MaxIDLen+1)), wantStatus: 400,
			wantErr: overBy("thread_id", event.MaxIDLen+1, event.MaxIDLen)},
		{name: "organization_id at the limit", body: set("organization_id", at(event.MaxTenantLen)), wantStatus: 200},
		{name: "organization_id one over", body: set("organization_id", at(event.MaxTenantLen+1)), wantStatus: 400,
			wantErr: overBy("organization_id", event.MaxTenantLen+1, event.MaxTenantLen)},
		{name: "webhook_id at the limit", body: set("webhook_id", at(event.MaxIDLen)), wantStatus: 200},
		{name: "webhook_id one over", body: set("webhook_id", at(event.MaxIDLen+1)), wantStatus: 400,
			wantErr: overBy("webhook_id", event.MaxIDLen+1, event.MaxIDLen)},
		{name: "multi-byte characters count in bytes", body: set("payload.chat_id", strings.Repeat("é", 65)), wantStatus: 400,
			wantErr: overBy("chat_id", 130, event.MaxIDLen)},
		{name: "newline in chat_id", body: set("payload.chat_id", "CHAT\n1"), wantStatus: 400,
			wantErr: "chat_id contains a control character (U+000A at byte 4)"},
		{name: "NUL in action", body: set("action", "chat\x00deactivated"), wantStatus: 400,
			wantErr: "action contains a control character (U+0000 at byte 4)"},
		{name: "C1 control in organization_id", body: set("organization_id", "org\u0085"), wantStatus: 400,
			wantErr: "organization_id contains a control character (U+0085 at byte 3)"},
		{name: "non-ASCII letters are fine", body: set("payload.chat_id", "čet-ü"), wantStatus: 200},
		{name: "secret is checked first", body: setJSON(t, set("action", at(5000)), "secret_key", "guess"), wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, []string{"s3cret"}, 1<<20)
			checkBoundsCase(t, ts, event.LiveChat, tc, func(b []byte) (*http.Response, []byte) {
				return ts.postWebhook(t, "/webhooks/livechat", strings.NewReader(string(b)), nil)
			})
		})
	}
}

func TestHelpCrunchWebhookBounds(t *testing.T) {
	valid := samples.HelpCrunch("chat.closed", "542335", "evt-1")
	set := func(path string, v any) []byte { return setJSON(t, valid, path, v) }
	at := func(n int) string { return strings.Repeat("7", n) }
	message := samples.HelpCrunch("message.chat.customer", "542335", "evt-1")

	tests := []boundsCase{
		{name: "event name at the limit", body: set("event", "chat."+at(event.MaxActionLen-5)), wantStatus: 200},
		{name: "event name one over", body: set("event", "chat."+at(event.MaxActionLen-4)), wantStatus: 400,
			wantErr: overBy("event", event.MaxActionLen+1, event.MaxActionLen)},
		{name: "event name of 5000 characters", body: set("event", at(5000)), wantStatus: 400,
			wantErr: overBy("event", 5000, event.MaxActionLen)},
		{name: "chat id at the limit", body: set("eventData.id", at(event.MaxIDLen)), wantStatus: 200},
		{name: "chat id one over", body: set("eventData.id", at(event.MaxIDLen+1)), wantStatus: 400,
			wantErr: overBy("chat_id", event.MaxIDLen+1, event.MaxIDLen)},
		{name: "message chat_id of 4100 characters", body: setJSON(t, message, "eventData.chat_id", at(4100)), wantStatus: 400,
			wantErr: overBy("chat_id", 4100, event.MaxIDLen)},
		{name: "event id at the limit", body: set("id", at(event.MaxIDLen)), wantStatus: 200},
		{name: "event id one over", body: set("id", at(event.MaxIDLen+1)), wantStatus: 400,
			wantErr: overBy("id", event.MaxIDLen+1, event.MaxIDLen)},
		{name: "organization at the limit", body: set("organization", at(event.MaxTenantLen)), wantStatus: 200},
		{name: "organization one over", body: set("organization", at(event.MaxTenantLen+1)), wantStatus: 400,
			wantErr: overBy("organization", event.MaxTenantLen+1, event.MaxTenantLen)},
		{name: "tab in event name", body: set("event", "chat.\tclosed"), wantStatus: 400,
			wantErr: "event contains a control character (U+0009 at byte 5)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
			checkBoundsCase(t, ts, event.HelpCrunch, tc, func(b []byte) (*http.Response, []byte) {
				return ts.postHelpCrunch(t, b, samples.HelpCrunchSignature(b, hcKey))
			})
		})
	}
}

func TestRocketChatWebhookBounds(t *testing.T) {
	valid := samples.RocketChat("LivechatSession", "ROOM1")
	set := func(path string, v any) []byte { return setJSON(t, valid, path, v) }
	at := func(n int) string { return strings.Repeat("R", n) }

	tests := []boundsCase{
		{name: "type at the limit", body: set("type", at(event.MaxActionLen)), wantStatus: 200},
		{name: "type one over", body: set("type", at(event.MaxActionLen+1)), wantStatus: 400,
			wantErr: overBy("type", event.MaxActionLen+1, event.MaxActionLen)},
		{name: "type of 5000 characters (issue 18)", body: set("type", at(5000)), wantStatus: 400,
			wantErr: "type is 5000 bytes; at most 128 allowed"},
		{name: "room _id at the limit", body: set("_id", at(event.MaxIDLen)), wantStatus: 200},
		{name: "room _id one over", body: set("_id", at(event.MaxIDLen+1)), wantStatus: 400,
			wantErr: overBy("_id", event.MaxIDLen+1, event.MaxIDLen)},
		{name: "room _id of 4100 characters", body: set("_id", at(4100)), wantStatus: 400,
			wantErr: overBy("_id", 4100, event.MaxIDLen)},
		{name: "DEL in room _id", body: set("_id", "ROOM\x7f1"), wantStatus: 400,
			wantErr: "_id contains a control character (U+007F at byte 4)"},
		{name: "token is checked first", body: set("type", at(5000)), wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
			token := rcToken
			if tc.wantStatus == http.StatusUnauthorized {
				token = "guess"
			}
			checkBoundsCase(t, ts, event.RocketChat, tc, func(b []byte) (*http.Response, []byte) {
				return ts.postRocketChat(t, b, token)
			})
		})
	}
}
