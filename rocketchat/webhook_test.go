package rocketchat_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/samples"
)

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantErr  bool
		wantType string
		wantRoom string
	}{
		{name: "room event", body: `{"type":"LivechatSession","_id":"R1","messages":[]}`, wantType: "LivechatSession", wantRoom: "R1"},
		{name: "offline message has no room", body: `{"type":"LivechatOfflineMessage","sentAt":"2026-03-02T22:41:07.331Z","message":"hi"}`, wantType: "LivechatOfflineMessage"},
		{name: "unknown type without room", body: `{"type":"Whatever"}`, wantType: "Whatever"},
		{name: "not JSON", body: `{"type":`, wantErr: true},
		{name: "two values", body: `{"type":"Message","_id":"R"} {}`, wantErr: true},
		{name: "array", body: `[{"type":"Message"}]`, wantErr: true},
		{name: "no type", body: `{"_id":"R"}`, wantErr: true},
		{name: "type not a string", body: `{"type":3,"_id":"R"}`, wantErr: true},
		{name: "room event without _id", body: `{"type":"Message"}`, wantErr: true},
		{name: "room event with empty _id", body: `{"type":"LivechatSessionTaken","_id":" "}`, wantErr: true},
		{name: "_id not a string", body: `{"type":"Message","_id":{"$oid":"x"}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := rocketchat.ParseWebhook([]byte(tt.body))
			if tt.wantErr {
				require.ErrorIs(t, err, rocketchat.ErrMalformedWebhook)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantType, w.Type)
			assert.Equal(t, tt.wantRoom, w.RoomID)
		})
	}
}

func TestParseWebhookPayload(t *testing.T) {
	w, err := rocketchat.ParseWebhook([]byte(`{ "type": "Message", "_id": "R",
		"visitor": {"_id": "V", "token": "visitor-secret", "email": "a@example.com"},
		"messages": [{"_id": "m", "msg": "a <b> & c \u003ci\u003e", "n": 12345678901234567890}] }`))
	require.NoError(t, err)
	assert.Equal(t, `{"_id":"R","messages":[{"_id":"m","msg":"a <b> & c <i>","n":12345678901234567890}],`+
		`"type":"Message","visitor":{"_id":"V","email":"a@example.com"}}`, string(w.Payload),
		"compact, sorted, unescaped, numbers kept, visitor token gone")
}

func TestFixturesNormalize(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, typ := range samples.RocketChatTypes() {
		t.Run(typ, func(t *testing.T) {
			assert.True(t, rocketchat.KnownEvent(typ))
			w, err := rocketchat.ParseWebhook(samples.RocketChat(typ, "ROOM9"))
			require.NoError(t, err)
			ev := w.Normalize(at)
			assert.Equal(t, event.RocketChat, ev.Platform)
			assert.Equal(t, typ, ev.Action)
			assert.Equal(t, at, ev.ReceivedAt)
			if typ == rocketchat.EventOfflineMessage {
				assert.Empty(t, ev.ChatID)
			} else {
				assert.Equal(t, "ROOM9", ev.ChatID)
			}
			assert.NotContains(t, string(ev.Payload), samples.RocketChatVisitorToken)
			var p map[string]any
			require.NoError(t, json.Unmarshal(ev.Payload, &p))

			again, err := rocketchat.ParseWebhook(samples.RocketChat(typ, "ROOM9"))
			require.NoError(t, err)
			assert.Equal(t, ev.ID, again.Normalize(at.Add(time.Hour)).ID, "the id does not depend on the arrival time")
		})
	}
	assert.False(t, rocketchat.KnownEvent("Nope"))
}

// tokenKeysIn lists the keys of v, at any depth, that look like tokens
// (contain "token" in any case), with their paths.
func tokenKeysIn(v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if strings.Contains(strings.ToLower(k), "token") {
				out = append(out, path+"."+k)
			}
			out = append(out, tokenKeysIn(x, path+"."+k)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, tokenKeysIn(x, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func TestParseWebhookScrubsTokensAtAnyDepth(t *testing.T) {
	body, err := os.ReadFile("testdata/tokens_nested.json")
	require.NoError(t, err)
	w, err := rocketchat.ParseWebhook(body)
	require.NoError(t, err)
	for i := 1; i <= 13; i++ {
		assert.NotContains(t, string(w.Payload), fmt.Sprintf("SECRET-%d\"", i))
	}
	var p any
	require.NoError(t, json.Unmarshal(w.Payload, &p))
	assert.Equal(t, []string{".visitor.customFields.tokenCount"}, tokenKeysIn(p, ""),
		"only a key that is no token remains")
	assert.Contains(t, string(w.Payload), `"msg":"hello, my token is in the text and stays"`)
	assert.Contains(t, string(w.Payload), `"value":"kept"`)
	assert.Contains(t, string(w.Payload), `"plan":"pro"`)
	assert.Equal(t, "LivechatSession", w.Type)
	assert.Equal(t, "8ceKgWvo5qT5TrCRN", w.RoomID)
}

func TestIsTokenKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"token", true}, {"Token", true}, {"TOKEN", true}, {"tOkEn", true},
		{"authToken", true}, {"X-Auth-Token", true}, {"x_auth_token", true}, {"visitorToken", true},
		{"visitor_token", true}, {"accessToken", true}, {"refresh_token", true},
		{"tokens", false}, {"tokenCount", false}, {"pushTokens", false}, {"_id", false}, {"", false},
		{"tok-en", true}, // separators are ignored
		{"a-very-long-key-named-token", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) { assert.Equal(t, tt.want, rocketchat.IsTokenKey(tt.key)) })
	}
}
