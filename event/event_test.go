package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPartitionStableAndSpread(t *testing.T) {
	assert.Equal(t, 0, Partition(LiveChat, "", 16), "events without a chat go to partition 0")
	assert.Equal(t, 0, Partition(LiveChat, "X", 1))
	p := Partition(LiveChat, "PJ0MRSHTDG", 16)
	assert.Equal(t, p, Partition(LiveChat, "PJ0MRSHTDG", 16), "stable")
	seen := map[int]int{}
	for i := 0; i < 1600; i++ {
		seen[Partition(LiveChat, string(rune('A'+i%26))+string(rune('a'+i/26%26))+string(rune('0'+i%10)), 16)]++
	}
	assert.Len(t, seen, 16, "every partition gets chats")
}

func TestSubject(t *testing.T) {
	ev := &Event{Platform: LiveChat, Action: "chat_deactivated", ChatID: "PJ0MRSHTDG"}
	s := ev.Subject(16)
	assert.Regexp(t, `^chatwarden\.events\.livechat\.chat_deactivated\.\d+$`, s)
	ev.Action = "weird.action"
	assert.Regexp(t, `^chatwarden\.events\.livechat\.weird_action=[0-9a-f]{32}\.\d+$`, ev.Subject(16))
	ev.Platform, ev.Action = HelpCrunch, "chat.new"
	assert.Regexp(t, `^chatwarden\.events\.helpcrunch\.chat_new\.\d+$`, ev.Subject(16), "documented actions keep their subject")
}

func TestContentIDSeparatesParts(t *testing.T) {
	assert.NotEqual(t, ContentID([]byte("ab"), []byte("c")), ContentID([]byte("a"), []byte("bc")))
	assert.Equal(t, ContentID([]byte("a"), []byte("b")), ContentID([]byte("a"), []byte("b")))
	assert.Len(t, ContentID([]byte("x")), 32)
}

func TestMarshalRoundTrip(t *testing.T) {
	ev := &Event{ID: "id1", Platform: LiveChat, Action: "incoming_chat", ChatID: "C", Payload: []byte(`{"chat":{"id":"C"}}`)}
	data, err := ev.Marshal()
	require.NoError(t, err)
	got, err := Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, ev.ID, got.ID)
	assert.JSONEq(t, string(ev.Payload), string(got.Payload))

	_, err = Unmarshal([]byte(`{"id":"x"}`))
	assert.ErrorContains(t, err, "missing platform or action")
	_, err = Unmarshal([]byte(`not json`))
	assert.Error(t, err)
}

// TestMarshalMatchesEncodingJSON: the hand-written encoder and
// encoding/json produce events that decode to the same value.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	when := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		ev   Event
	}{
		{"minimal", Event{ID: "a", Platform: LiveChat, Action: "x", Source: SourceWebhook}},
		{"full", Event{ID: "id", Platform: LiveChat, Action: "incoming_chat", Tenant: "org", ChatID: "C1", ThreadID: "T1",
			Source: SourceWebhook, ReceivedAt: when, WebhookID: "w", Payload: []byte(`{"chat": {"id": "C1"}, "n": [1, 2.5e3]}`),
			AdditionalData: []byte(`{"chat_properties":{"routing":{"pinned":true}}}`)}},
		{"escapes", Event{ID: "q\"b\\s\n\t\x01<&>", Platform: LiveChat, Action: "ü €", ChatID: "\u2028", Source: "s", Payload: []byte(`{}`)}},
		{"invalid utf-8", Event{ID: "a\xffb", Platform: LiveChat, Action: "x\xc3", Source: "s", Payload: []byte(`{}`)}},
		{"recheck", Event{ID: "r", Platform: LiveChat, Action: "x", Source: SourceRecheck, Payload: []byte(`{"a":1}`),
			Recheck: &Recheck{Rule: "r1", OriginID: "o", DueAt: when}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, err := tt.ev.Marshal()
			require.NoError(t, err)
			require.True(t, json.Valid(ours), "%s", ours)
			theirs, err := json.Marshal(&tt.ev)
			require.NoError(t, err)
			var a, b map[string]any
			require.NoError(t, json.Unmarshal(ours, &a))
			require.NoError(t, json.Unmarshal(theirs, &b))
			assert.Equal(t, b, a)
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	payload := bytes.Repeat([]byte(`{"k":"value value value"},`), 120)
	ev := Event{ID: "0123456789abcdef0123456789abcdef", Platform: LiveChat, Action: "incoming_chat", ChatID: "PJ0MRSHTDG",
		Source: SourceWebhook, ReceivedAt: time.Now(), Payload: append(append([]byte(`{"a":[`), payload[:len(payload)-1]...), ']', '}')}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ev.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStoredForm(t *testing.T) {
	big := json.RawMessage(`{"chat":{"id":"C1","thread":{"id":"T1","events":[` + strings.Repeat(`{"type":"message","text":"hello there"},`, 40) + `{"type":"message","text":"bye"}]}}}`)
	at := time.Date(2026, 11, 22, 7, 0, 0, 123456789, time.UTC)
	cases := []struct {
		name       string
		ev         Event
		compressed bool
	}{
		{"a small event is stored as JSON", Event{ID: "e1", Platform: LiveChat, Action: "chat_deactivated", ChatID: "C1", Source: SourceWebhook, ReceivedAt: at, Payload: json.RawMessage(`{"chat_id":"C1"}`)}, false},
		{"a large event is stored compressed", Event{ID: "e2", Platform: LiveChat, Action: "incoming_chat", Tenant: "org", ChatID: "C1", ThreadID: "T1", Source: SourceWebhook, ReceivedAt: at, WebhookID: "w\"1", Payload: big, AdditionalData: json.RawMessage(`{"chat_properties":{}}`)}, true},
		{"a re-check keeps its rule", Event{ID: "e3", Platform: LiveChat, Action: "incoming_chat", ChatID: "C1", Source: SourceRecheck, ReceivedAt: at, Payload: big, Recheck: &Recheck{Rule: "r", OriginID: "e2", DueAt: at}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stored, err := tc.ev.Encode()
			require.NoError(t, err)
			js, err := tc.ev.Marshal()
			require.NoError(t, err)
			assert.Equal(t, tc.compressed, stored[0] == compressedMark)
			if tc.compressed {
				assert.Less(t, len(stored), len(js)/2, "compressed to less than half")
			}
			plain, err := JSON(stored)
			require.NoError(t, err)
			assert.Equal(t, js, plain, "JSON gives back the marshalled event")
			got, err := Unmarshal(stored)
			require.NoError(t, err)
			want := tc.ev
			assert.Equal(t, &want, got)
			// And encoding/json reads the JSON form the same way.
			var std Event
			require.NoError(t, json.Unmarshal(plain, &std))
			assert.Equal(t, want, std)
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":                    nil,
		"not JSON":                 []byte("hello"),
		"an array":                 []byte(`[1,2]`),
		"no platform":              []byte(`{"id":"x","action":"a","received_at":"2026-11-22T07:00:00Z","payload":{}}`),
		"a bad time":               []byte(`{"id":"x","platform":"livechat","action":"a","received_at":"yesterday","payload":{}}`),
		"truncated":                []byte(`{"id":"x","platform":"livechat","action":"a","payload":{"a":`),
		"compressed but corrupted": {compressedMark, 0xff, 0x00, 0x13},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Unmarshal(data)
			assert.Error(t, err)
		})
	}
}

// TestEncodeReusesNothingVisible: Encode reuses scratch buffers, so stored
// forms produced one after another and concurrently, of events of different
// sizes, must each decode to their own event and never change afterwards.
func TestEncodeReusesNothingVisible(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	mk := func(i int) *Event {
		payload := `{"chat_id":"C` + strings.Repeat("x", i%7) + `","n":[` + strings.Repeat(`"filler text",`, i%97) + `0]}`
		return &Event{ID: "e" + strings.Repeat("1", i%5), Platform: LiveChat, Action: "chat_deactivated",
			ChatID: "C", Source: SourceWebhook, ReceivedAt: at, Payload: json.RawMessage(payload)}
	}
	const n = 400
	stored := make([][]byte, n)
	copies := make([][]byte, n)
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; i < n; i += 4 {
				b, err := mk(i).Encode()
				if !assert.NoError(t, err) {
					return
				}
				stored[i], copies[i] = b, bytes.Clone(b)
			}
		}()
	}
	for range 4 {
		<-done
	}
	for i := range n {
		require.Equal(t, copies[i], stored[i], "stored form %d changed after later encodes", i)
		got, err := Unmarshal(stored[i])
		require.NoError(t, err, "event %d", i)
		assert.Equal(t, mk(i), got, "event %d", i)
	}
}

func BenchmarkEncode(b *testing.B) {
	payload := bytes.Repeat([]byte(`{"k":"value value value"},`), 120)
	ev := Event{ID: "0123456789abcdef0123456789abcdef", Platform: LiveChat, Action: "incoming_chat", ChatID: "PJ0MRSHTDG",
		Source: SourceWebhook, ReceivedAt: time.Now(), Payload: append(append([]byte(`{"a":[`), payload[:len(payload)-1]...), ']', '}')}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnmarshalDoesNotAliasTheMessage: the decoded event stays the same when
// the message it was decoded from is reused, in both stored forms.
func TestUnmarshalDoesNotAliasTheMessage(t *testing.T) {
	big := json.RawMessage(`{"chat_id":"C1","text":"` + strings.Repeat("hello ", 200) + `"}`)
	for _, tc := range []struct {
		name    string
		payload json.RawMessage
	}{
		{"JSON", json.RawMessage(`{"chat_id":"C1"}`)},
		{"compressed", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Event{ID: "id-1", Platform: LiveChat, Action: "chat_deactivated", Tenant: "org", ChatID: "C1",
				Source: SourceWebhook, ReceivedAt: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), Payload: tc.payload}
			stored, err := ev.Encode()
			require.NoError(t, err)
			got, err := Unmarshal(stored)
			require.NoError(t, err)
			for i := range stored {
				stored[i] = 'x'
			}
			assert.Equal(t, ev, got)
		})
	}
}

func TestJSONRefusesCompressionBombs(t *testing.T) {
	huge := s2.Encode(nil, make([]byte, MaxDecodedLen+1))
	_, err := JSON(append([]byte{compressedMark}, huge...))
	assert.ErrorContains(t, err, "would decode to more than")
	_, err = Unmarshal(append([]byte{compressedMark}, huge...))
	assert.Error(t, err)
}

// TestAppendEncoded: the stored form appended after what dst holds is
// Encode's, in both stored forms, and a reused buffer costs no allocation.
func TestAppendEncoded(t *testing.T) {
	big := json.RawMessage(`{"chat":{"id":"C1","text":"` + strings.Repeat("hello ", 200) + `"}}`)
	for _, tc := range []struct {
		name string
		ev   Event
	}{
		{"small, stored as JSON", Event{ID: "e1", Platform: LiveChat, Action: "chat_deactivated", ChatID: "C1", Source: SourceWebhook, Payload: json.RawMessage(`{"chat_id":"C1"}`)}},
		{"large, stored compressed", Event{ID: "e2", Platform: LiveChat, Action: "incoming_chat", ChatID: "C1", Source: SourceWebhook, Payload: big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.ev.Encode()
			require.NoError(t, err)
			got, err := tc.ev.AppendEncoded([]byte("prefix"))
			require.NoError(t, err)
			assert.Equal(t, append([]byte("prefix"), want...), got)
			back, err := Unmarshal(got[len("prefix"):])
			require.NoError(t, err)
			assert.Equal(t, tc.ev.ID, back.ID)

			if raceEnabled {
				return // sync.Pool drops items at random under -race
			}
			buf := make([]byte, 0, 4096)
			allocs := testing.AllocsPerRun(50, func() {
				buf, err = tc.ev.AppendEncoded(buf[:0])
			})
			require.NoError(t, err)
			assert.Zero(t, allocs, "a buffer with room is reused")
		})
	}
}
