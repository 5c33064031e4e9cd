package rocketchat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/samples"
)

// Markers the fuzzer cannot guess, injected as tokens into fuzzed bodies.
const (
	fzVisitorToken1 = "fz-visitor-token-ONE-5c0e"
	fzVisitorToken2 = "fz-visitor-token-TWO-a91b"
	fzTopToken1     = "fz-top-token-ONE-27d4"
	fzTopToken2     = "fz-top-token-TWO-e8f3"
)

// fzInjectMembers adds members at the end of the JSON object body so that
// they win over earlier keys of the same name; ok is false when body does
// not look like an object.
func fzInjectMembers(body []byte, members string) ([]byte, bool) {
	b := bytes.TrimSpace(body)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	inner := bytes.TrimSpace(b[1 : len(b)-1])
	out := append([]byte(nil), b[:len(b)-1]...)
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out = append(out, members...)
	return append(out, '}'), true
}

// FuzzParseWebhook checks rocketchat.ParseWebhook and Normalize on any body:
//   - no panic; an error wraps ErrMalformedWebhook;
//   - a decoded webhook has a type, a room id for room events, and a payload
//     that is a canonical JSON object (parsing it again gives it back)
//     without a top-level token or visitor.token;
//   - identical input gives identical webhooks and events, and so does the
//     same content formatted differently (indented, compacted);
//   - tokens injected into the body are nowhere in the event, and two
//     bodies that differ only in their tokens give identical events.
func FuzzParseWebhook(f *testing.F) {
	for _, typ := range samples.RocketChatTypes() {
		raw, err := samples.RocketChatRaw(typ)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(samples.RocketChat(typ, "ROOM1"))
	}
	deep := strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)
	tooDeep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	for _, s := range []string{
		"", "null", "{}", "[]", `"x"`, "1e999999", " \t\n",
		`{"type":null,"_id":null}`,
		`{"type":"Message","_id":"R","n":1e999999,"m":-123456789012345678901234567890.5e-400}`,
		`{"type":"Message","_id":"R","deep":` + deep + `}`,
		`{"type":"Message","_id":"R","deep":` + tooDeep + `}`,
		"{\"type\":\"Mess\xffage\",\"_id\":\"\xfe\",\"msg\":\"\xc3\x28\"}",
		"\xef\xbb\xbf{\"type\":\"Message\",\"_id\":\"R\"}",
		`{"type":"Message","type":"LivechatSession","_id":"R","_id":"S","visitor":{"token":"a","token":"b"}}`,
		`{"TYPE":"Message","_ID":"R","Visitor":{"Token":"t"},"TOKEN":"x"}`,
		`{"type":"Message","_id":"R","visitor":"not an object","token":{"nested":true}}`,
		`{"type":"Message","_id":"R","visitor":null}`,
		`{"type":"Message","_id":"R","msg":"<b>&amp;\u2028\u0000"}`,
		`{"type":"Message","_id":"R"} {}`,
		`{"type":"Message","_id":"R"}` + "\x00",
		`{"type":"LivechatOfflineMessage","visitor":{"name":"n","email":"e"},"message":"m"}`,
	} {
		f.Add([]byte(s))
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := rocketchat.ParseWebhook(body)
		w2, err2 := rocketchat.ParseWebhook(bytes.Clone(body))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v then %v", err, err2)
		}
		if err != nil {
			if w != nil {
				t.Fatalf("a webhook and an error: %v", err)
			}
			if !errors.Is(err, rocketchat.ErrMalformedWebhook) {
				t.Fatalf("error does not wrap ErrMalformedWebhook: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(w, w2) {
			t.Fatalf("identical input, different webhooks:\n%+v\n%+v", w, w2)
		}
		if w.Type == "" || (w.RoomID == "" && isRoomEvent(w.Type)) {
			t.Fatalf("webhook without type or room: %+v", w)
		}
		checkPayload(t, w.Payload)
		again, err := rocketchat.ParseWebhook(w.Payload)
		if err != nil || !bytes.Equal(again.Payload, w.Payload) {
			t.Fatalf("payload is not canonical: %v\n%s\n%s", err, w.Payload, again.Payload)
		}

		ev := w.Normalize(at)
		if ev.Platform != event.RocketChat || ev.Action != w.Type || ev.ChatID != w.RoomID || ev.ID == "" ||
			!bytes.Equal(ev.Payload, w.Payload) {
			t.Fatalf("event does not reflect the webhook: %+v", ev)
		}
		if ev2 := w2.Normalize(at.Add(time.Hour)); ev2.ID != ev.ID {
			t.Fatalf("the id depends on the reception time: %s, %s", ev.ID, ev2.ID)
		}
		data, err := ev.Marshal()
		if err != nil {
			t.Fatalf("event cannot be stored: %v", err)
		}
		if back, err := event.Unmarshal(data); err != nil || back.ID != ev.ID || back.ChatID != ev.ChatID {
			t.Fatalf("stored event cannot be read back: %v", err)
		}

		// The same content formatted otherwise is the same event.
		for name, reformat := range map[string]func(*bytes.Buffer, []byte) error{
			"indented":  func(b *bytes.Buffer, src []byte) error { return json.Indent(b, src, "  ", "\t") },
			"compacted": json.Compact,
		} {
			var buf bytes.Buffer
			if err := reformat(&buf, bytes.TrimSpace(body)); err != nil {
				continue
			}
			wf, err := rocketchat.ParseWebhook(buf.Bytes())
			if err != nil {
				t.Fatalf("%s body refused: %v", name, err)
			}
			if id := wf.Normalize(at).ID; id != ev.ID {
				t.Fatalf("%s body has another id: %s, %s", name, id, ev.ID)
			}
		}

		checkTokensDropped(t, body, at)
	})
}

func isRoomEvent(typ string) bool {
	switch typ {
	case rocketchat.EventSessionStart, rocketchat.EventSessionQueued, rocketchat.EventSessionTaken,
		rocketchat.EventSessionForwarded, rocketchat.EventSession, rocketchat.EventMessage,
		rocketchat.EventEdit, rocketchat.EventLeadCapture:
		return true
	}
	return false
}

// checkPayload checks that payload is a JSON object without a top-level
// "token" and without visitor.token.
func checkPayload(t *testing.T, payload []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		t.Fatalf("payload is not a JSON object: %v: %s", err, payload)
	}
	if _, ok := top["token"]; ok {
		t.Fatalf("payload keeps the top-level token: %s", payload)
	}
	var visitor map[string]json.RawMessage
	if json.Unmarshal(top["visitor"], &visitor) == nil {
		if _, ok := visitor["token"]; ok {
			t.Fatalf("payload keeps visitor.token: %s", payload)
		}
	}
}

// checkTokensDropped injects two sets of tokens into body and checks that
// the events are identical and contain neither.
func checkTokensDropped(t *testing.T, body []byte, at time.Time) {
	t.Helper()
	for _, m := range []string{fzVisitorToken1, fzVisitorToken2, fzTopToken1, fzTopToken2} {
		if bytes.Contains(body, []byte(m)) {
			return
		}
	}
	// visitor is replaced whole (the last one wins), so both bodies carry
	// the same visitor apart from its token.
	members := func(top, visitor string) string {
		return `"token":"` + top + `","visitor":{"_id":"V","username":"guest","token":"` + visitor + `"}`
	}
	b1, ok := fzInjectMembers(body, members(fzTopToken1, fzVisitorToken1))
	if !ok {
		return
	}
	b2, _ := fzInjectMembers(body, members(fzTopToken2, fzVisitorToken2))
	w1, err1 := rocketchat.ParseWebhook(b1)
	w2, err2 := rocketchat.ParseWebhook(b2)
	if err1 != nil || err2 != nil {
		t.Fatalf("injecting tokens broke an accepted body: %v / %v", err1, err2)
	}
	ev1, ev2 := w1.Normalize(at), w2.Normalize(at)
	if !reflect.DeepEqual(ev1, ev2) {
		t.Fatalf("the event depends on the tokens:\n%+v\n%+v", ev1, ev2)
	}
	data, err := ev1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{fzVisitorToken1, fzTopToken1} {
		if bytes.Contains(data, []byte(m)) {
			t.Fatalf("stored event contains token %q: %s", m, data)
		}
	}
}
