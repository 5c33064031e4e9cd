package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/samples"
)

func (ts *testServer) postRocketChat(t *testing.T, body []byte, token string) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["X-RocketChat-Livechat-Token"] = token
	}
	return ts.postWebhook(t, "/webhooks/rocketchat", bytes.NewReader(body), h)
}

// largeSession is a LivechatSession of room with as many messages as fit in
// about size bytes.
func largeSession(t *testing.T, room string, size int) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(samples.RocketChat("LivechatSession", room), &m))
	msg := map[string]any{"_id": "", "username": "guest-1042", "msg": strings.Repeat("lorem ipsum ", 40),
		"ts": "2026-03-02T09:14:03.120Z", "rid": room, "_updatedAt": "2026-03-02T09:14:03.120Z"}
	one, _ := json.Marshal(msg)
	base, _ := json.Marshal(m)
	n := (size - len(base)) / (len(one) + len("m0000000") + 1)
	msgs := make([]any, n)
	for i := range msgs {
		c := map[string]any{}
		for k, v := range msg {
			c[k] = v
		}
		c["_id"] = fmt.Sprintf("m%07d", i)
		msgs[i] = c
	}
	m["messages"] = msgs
	b, err := json.Marshal(m)
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), size)
	return b
}

func TestRocketChatWebhookStatus(t *testing.T) {
	valid := samples.RocketChat("LivechatSession", "ROOM1")
	withField := func(field string, v any) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(valid, &m))
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	big := withField("messages", []any{map[string]any{"_id": "x", "msg": strings.Repeat("x", 8000)}})

	tests := []struct {
		name       string
		body       []byte
		token      string
		publishErr error
		wantStatus int
		wantReason string
	}{
		{name: "valid", body: valid, token: rcToken, wantStatus: 200},
		{name: "unknown type is stored", body: withField("type", "LivechatTransferHistory"), token: rcToken, wantStatus: 200},
		{name: "unknown type without room is stored", body: []byte(`{"type":"SomethingNew"}`), token: rcToken, wantStatus: 200},
		{name: "missing token", body: valid, wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "wrong token", body: valid, token: "guess", wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "token prefix", body: valid, token: rcToken[:10], wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "wrong token beats malformed body", body: []byte(`{`), token: "guess", wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "malformed JSON", body: []byte(`{"type":"Message",`), token: rcToken, wantStatus: 400, wantReason: reasonMalformed},
		{name: "empty body", body: []byte{}, token: rcToken, wantStatus: 400, wantReason: reasonMalformed},
		{name: "not an object", body: []byte(`"LivechatSession"`), token: rcToken, wantStatus: 400, wantReason: reasonMalformed},
		{name: "missing type", body: withField("type", nil), token: rcToken, wantStatus: 400, wantReason: reasonMalformed},
		{name: "room event without _id", body: withField("_id", nil), token: rcToken, wantStatus: 400, wantReason: reasonMalformed},
		{name: "_id not a string", body: withField("_id", 42), token: rcToken, wantStatus: 400, wantReason: reasonMalformed},
		{name: "too large", body: big, token: rcToken, wantStatus: 413, wantReason: reasonTooLarge},
		{name: "broker cannot store", body: valid, token: rcToken, publishErr: errors.New("nats: timeout"), wantStatus: 503, wantReason: reasonUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 8192)
			ts.pub.err = tt.publishErr
			resp, body := ts.postRocketChat(t, tt.body, tt.token)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", body)
			if tt.wantStatus == 200 {
				assert.Empty(t, body, "Rocket.Chat saves a 200's body on the room")
				assert.Len(t, ts.pub.published(), 1)
			} else {
				assert.Empty(t, ts.pub.published())
			}
			if tt.wantStatus == 503 {
				assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
			}
			if tt.wantReason != "" {
				assert.Equal(t, 1.0, testutil.ToFloat64(ts.metrics.WebhooksRejected.WithLabelValues(event.RocketChat, tt.wantReason)))
			}
		})
	}
}

func TestRocketChatWebhookNoTokenConfigured(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, "", 1<<20)
	// Rocket.Chat leaves the header out when it has no token: that must not
	// match an empty configuration.
	resp, _ := ts.postRocketChat(t, samples.RocketChat("Message", "R"), "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, ts.pub.published())
}

func TestRocketChatWebhookTypes(t *testing.T) {
	types := samples.RocketChatTypes()
	require.ElementsMatch(t, []string{"LivechatSessionStart", "LivechatSessionQueued", "LivechatSessionTaken",
		"LivechatSessionForwarded", "LivechatSession", "Message", "LivechatOfflineMessage"}, types)
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
			resp, b := ts.postRocketChat(t, samples.RocketChat(typ, "ROOMX"), rcToken)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
			require.Empty(t, b)
			evs := ts.pub.published()
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Equal(t, event.RocketChat, ev.Platform)
			assert.Equal(t, typ, ev.Action)
			assert.Equal(t, event.SourceWebhook, ev.Source)
			assert.NotEmpty(t, ev.ID)
			if typ == "LivechatOfflineMessage" {
				assert.Empty(t, ev.ChatID, "offline messages have no room")
			} else {
				assert.Equal(t, "ROOMX", ev.ChatID)
			}
			var p map[string]any
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			assert.Equal(t, typ, p["type"])
			assert.Equal(t, 1.0, testutil.ToFloat64(ts.metrics.WebhooksReceived.WithLabelValues(event.RocketChat, typ)))
		})
	}
}

func TestRocketChatWebhookLargeSession(t *testing.T) {
	const limit = 1 << 20 // the default http.max_body_bytes
	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
	}{
		{name: "just under the cap", size: limit - 512, wantStatus: 200},
		{name: "just under the cap, chunked", size: limit - 512, chunked: true, wantStatus: 200},
		{name: "over the cap", size: limit + 4096, wantStatus: 413},
		{name: "over the cap, chunked", size: limit + 4096, chunked: true, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, limit)
			body := largeSession(t, "BIGROOM", tt.size)
			if tt.size > limit {
				// Pad past the cap with whitespace after the JSON.
				body = append(body, bytes.Repeat([]byte(" "), tt.size-len(body))...)
			}
			require.Greater(t, len(body), limit-4096)
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = io.MultiReader(rd) // unknown length: sent chunked
			}
			resp, b := ts.postWebhook(t, "/webhooks/rocketchat", rd, map[string]string{"X-RocketChat-Livechat-Token": rcToken})
			require.Equal(t, tt.wantStatus, resp.StatusCode, "%.200s", b)
			if tt.wantStatus != 200 {
				assert.Empty(t, ts.pub.published())
				return
			}
			evs := ts.pub.published()
			require.Len(t, evs, 1)
			assert.Equal(t, "BIGROOM", evs[0].ChatID)
			var p struct {
				Messages []json.RawMessage `json:"messages"`
			}
			require.NoError(t, json.Unmarshal(evs[0].Payload, &p))
			assert.Greater(t, len(p.Messages), 1000, "the whole history is kept")
		})
	}
}

func TestRocketChatWebhookDedupID(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	first := samples.RocketChat("Message", "R1")
	var m map[string]any
	require.NoError(t, json.Unmarshal(first, &m))
	reformatted, _ := json.Marshal(m) // same content, other formatting and key order
	otherRoom := samples.RocketChat("Message", "R2")
	otherType := bytes.Replace(first, []byte(`"type": "Message"`), []byte(`"type": "LivechatSessionTaken"`), 1)
	nextMessage := bytes.Replace(first, []byte(`"m3Ed9Ys4"`), []byte(`"m5Tg1Au6"`), 1)
	for _, b := range [][]byte{first, first, reformatted, otherRoom, otherType, nextMessage} {
		resp, rb := ts.postRocketChat(t, b, rcToken)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", rb)
	}
	evs := ts.pub.published()
	require.Len(t, evs, 6)
	assert.Equal(t, evs[0].ID, evs[1].ID, "a retry of the same delivery")
	assert.Equal(t, evs[0].ID, evs[2].ID, "formatting does not split a delivery")
	assert.NotEqual(t, evs[0].ID, evs[3].ID, "another room")
	assert.NotEqual(t, evs[0].ID, evs[4].ID, "another type")
	assert.NotEqual(t, evs[0].ID, evs[5].ID, "another message")
}

func TestRocketChatWebhookTokensNeverStoredOrLogged(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	for _, typ := range samples.RocketChatTypes() {
		resp, _ := ts.postRocketChat(t, samples.RocketChat(typ, "R1"), rcToken)
		require.Equal(t, http.StatusOK, resp.StatusCode, typ)
	}
	wrong := rcToken + "-wrong"
	resp, _ := ts.postRocketChat(t, samples.RocketChat("Message", "R1"), wrong)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	evs := ts.pub.published()
	require.Len(t, evs, len(samples.RocketChatTypes()))
	for _, ev := range evs {
		data, err := ev.Marshal()
		require.NoError(t, err)
		assert.NotContains(t, string(data), rcToken, ev.Action)
		assert.NotContains(t, string(data), samples.RocketChatVisitorToken, "%s: the visitor's token is a credential", ev.Action)
	}
	for _, entry := range ts.logs.All() {
		line, _ := json.Marshal(entry.ContextMap())
		text := entry.Message + string(line)
		assert.NotContains(t, text, rcToken)
		assert.NotContains(t, text, samples.RocketChatVisitorToken)
	}
}

func TestRocketChatWebhookKeepsMessageText(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	resp, _ := ts.postRocketChat(t, samples.RocketChat("Message", "R1"), rcToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(ts.pub.published()[0].Payload), `"msg":"INV-2026-0042 <shows 2 charges> & a refund"`,
		"stored without HTML escaping")
}

// TestRocketChatWebhookStoresNoToken: a delivery with tokens at every depth
// (top level, visitor, custom fields, messages, attachments, arrays of
// arrays) is stored without any of them.
func TestRocketChatWebhookStoresNoToken(t *testing.T) {
	body, err := os.ReadFile("../rocketchat/testdata/tokens_nested.json")
	require.NoError(t, err)
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	resp, rb := ts.postRocketChat(t, body, rcToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", rb)
	evs := ts.pub.published()
	require.Len(t, evs, 1)
	stored, err := evs[0].Marshal()
	require.NoError(t, err)
	assert.NotContains(t, string(stored), "SECRET-")
	var v any
	require.NoError(t, json.Unmarshal(stored, &v))
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				assert.False(t, strings.EqualFold(k, "token"), "key %s.%s is stored", path, k)
				walk(x, path+"."+k)
			}
		case []any:
			for i, x := range v {
				walk(x, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(v, "")
}
