package helpcrunch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/samples"
)

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":"chat.new","eventData":{"id":1}}`)
	good := helpcrunch.Sign(body, "key")
	require.Len(t, good, 40, "hex of a 20-byte SHA-1")
	assert.Equal(t, samples.HelpCrunchSignature(body, "key"), good, "the fixtures sign the same way")
	tests := []struct {
		name      string
		body      []byte
		signature string
		key       string
		want      bool
	}{
		{"good", body, good, "key", true},
		{"uppercase", body, strings.ToUpper(good), "key", true},
		{"surrounding space", body, " " + good + " ", "key", true},
		{"other key", body, good, "other", false},
		{"body changed by one byte", append([]byte(" "), body...), good, "key", false},
		{"empty signature", body, "", "key", false},
		{"empty key", body, helpcrunch.Sign(body, ""), "", false},
		{"not hex", body, "att73h99zvs9ipdmaj2rmr4oi5jhtwubs6q6tfwr", "key", false},
		{"too short", body, good[:38], "key", false},
		{"sha256 length", body, good + good[:24], "key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, helpcrunch.VerifySignature(tt.body, tt.signature, tt.key))
		})
	}
}

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantErr   bool
		wantEvent string
		wantID    string
		attempts  int
	}{
		{name: "documented", body: `{"event":"chat.new","eventData":{"id":1},"attempts":2,"lastAttemptAt":1638953588,"createdAt":1638953500,"id":"73499e69"}`,
			wantEvent: "chat.new", wantID: "73499e69", attempts: 2},
		{name: "numeric id and string counters", body: `{"event":"chat.new","eventData":{},"attempts":"1","id":42}`,
			wantEvent: "chat.new", wantID: "42", attempts: 1},
		{name: "no id", body: `{"event":"chat.new","eventData":{}}`, wantEvent: "chat.new"},
		{name: "not JSON", body: `{"event":`, wantErr: true},
		{name: "array", body: `[]`, wantErr: true},
		{name: "no event", body: `{"eventData":{}}`, wantErr: true},
		{name: "event not a string", body: `{"event":1,"eventData":{}}`, wantErr: true},
		{name: "no eventData", body: `{"event":"chat.new"}`, wantErr: true},
		{name: "eventData null", body: `{"event":"chat.new","eventData":null}`, wantErr: true},
		{name: "eventData an array", body: `{"event":"chat.new","eventData":[]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := helpcrunch.ParseWebhook([]byte(tt.body))
			if tt.wantErr {
				require.ErrorIs(t, err, helpcrunch.ErrMalformedWebhook)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantEvent, w.Event)
			assert.Equal(t, tt.wantID, w.ID)
			assert.Equal(t, tt.attempts, w.Attempts)
		})
	}
}

func TestFixturesNormalize(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	for _, name := range samples.HelpCrunchEvents() {
		t.Run(name, func(t *testing.T) {
			assert.True(t, helpcrunch.KnownEvent(name))
			w, err := helpcrunch.ParseWebhook(samples.HelpCrunch(name, "99", "evt"))
			require.NoError(t, err)
			ev := w.Normalize(at)
			assert.Equal(t, event.HelpCrunch, ev.Platform)
			assert.Equal(t, name, ev.Action)
			assert.Equal(t, at.UTC(), ev.ReceivedAt)
			if strings.HasPrefix(name, "customer.") {
				assert.Empty(t, ev.ChatID)
			} else {
				assert.Equal(t, "99", ev.ChatID)
			}
		})
	}
	assert.False(t, helpcrunch.KnownEvent("chat.teleported"))
}

func TestSentAt(t *testing.T) {
	tests := []struct {
		name          string
		created, last int64
		want          time.Time
	}{
		{"neither", 0, 0, time.Time{}},
		{"later of the two", 1765450800, 1765450920, time.Unix(1765450920, 0).UTC()},
		{"createdAt alone", 1765450800, 0, time.Unix(1765450800, 0).UTC()},
		{"milliseconds", 1765450800123, 0, time.UnixMilli(1765450800123).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &helpcrunch.Webhook{CreatedAt: tt.created, LastAttemptAt: tt.last}
			assert.Equal(t, tt.want, w.SentAt())
		})
	}
}
