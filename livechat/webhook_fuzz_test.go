package livechat_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/samples"
)

// fuzzEdgeBodies are hand-made envelopes at the edges of what JSON and the
// LiveChat envelope allow, shared by the seed corpus of FuzzParseWebhook.
func fuzzEdgeBodies() [][]byte {
	deep := strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)
	tooDeep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	return [][]byte{
		nil,
		[]byte(""),
		[]byte("   \n\t"),
		[]byte("null"),
		[]byte("{}"),
		[]byte("[]"),
		[]byte(`"a string"`),
		[]byte("12345678901234567890123456789"),
		[]byte(`{"action":"chat_deactivated","payload":null,"secret_key":"x"}`),
		[]byte(`{"action":"chat_deactivated","payload":[],"secret_key":"x"}`),
		[]byte(`{"action":"chat_deactivated","payload":"chat","secret_key":"x"}`),
		[]byte(`{"action":"chat_deactivated","payload":   {"chat_id":"C"}  ,"secret_key":"x"}`),
		[]byte(`{"action":"","payload":{},"secret_key":"x"}`),
		[]byte(`{"action":null,"payload":{},"secret_key":null}`),
		[]byte(`{"action":1,"payload":{},"secret_key":2}`),
		[]byte(`{"secret_key":"guess"}`),
		// Huge numbers, where ids and strings are expected.
		[]byte(`{"action":"incoming_chat","secret_key":"x","payload":{"chat":{"id":1e999999,"thread":{"id":-0.0000e-99999}}}}`),
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{"chat_id":123456789012345678901234567890,"thread_id":9.9e308}}`),
		// Deep nesting inside the payload, and beyond encoding/json's limit.
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{"chat_id":"C","deep":` + deep + `}}`),
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{"chat_id":"C","deep":` + tooDeep + `}}`),
		// Invalid UTF-8 in keys and values.
		[]byte("{\"action\":\"chat_\xffdeactivated\",\"secret_key\":\"\xfe\xff\",\"payload\":{\"chat_id\":\"\xc3\x28\"}}"),
		[]byte("{\"act\xffion\":\"x\",\"payload\":{}}"),
		[]byte("\xef\xbb\xbf{\"action\":\"x\",\"payload\":{}}"), // UTF-8 BOM
		// Duplicate and differently cased keys: encoding/json keeps the last
		// and matches case-insensitively.
		[]byte(`{"action":"a","action":"b","secret_key":"s1","secret_key":"s2","payload":{"chat_id":"x","chat_id":"y"},"payload":{"chat_id":"z"}}`),
		[]byte(`{"ACTION":"chat_deactivated","Secret_Key":"s","PAYLOAD":{"CHAT_ID":"C"},"Organization_ID":"o"}`),
		// Escapes: the secret spelled with \u escapes, a NUL, U+2028.
		[]byte(`{"action":"chat_deactivated","secret_key":"\u0074est-secret","payload":{"chat_id":"\u0000\u2028"}}`),
		// Additional data of every shape.
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{"chat_id":"C"},"additional_data":null}`),
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{"chat_id":"C"},"additional_data":[1,2]}`),
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{"chat_id":"C"},"additional_data":{"chat_properties":{"routing":{"pinned":true}}}}`),
		// Ids in the wrong places and of the wrong types for each action.
		[]byte(`{"action":"incoming_chat","secret_key":"x","payload":{"chat":"C"}}`),
		[]byte(`{"action":"incoming_chat","secret_key":"x","payload":{"chat":{"id":"C","thread":null}}}`),
		[]byte(`{"action":"chat_access_updated","secret_key":"x","payload":{"id":["C"]}}`),
		[]byte(`{"action":"customer_session_fields_updated","secret_key":"x","payload":{"active_chat":{"chat_id":"C","thread_id":"T"}}}`),
		[]byte(`{"action":"customer_session_fields_updated","secret_key":"x","payload":{"active_chat":true}}`),
		// Trailing data after the envelope.
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{}} {}`),
		[]byte(`{"action":"chat_deactivated","secret_key":"x","payload":{}}` + "\x00"),
	}
}

// fuzzSeedLiveChat adds every LiveChat fixture (as stored, and with its
// placeholders replaced) and the edge cases.
func fuzzSeedLiveChat(f *testing.F) {
	f.Helper()
	for _, action := range samples.LiveChatActions() {
		raw, err := samples.LiveChatRaw(action)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(samples.LiveChat(action, "", "C1", "T1"))
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			f.Fatalf("fixture %s: %v", action, err)
		}
		f.Add(compact.Bytes())
	}
	for _, b := range fuzzEdgeBodies() {
		f.Add(b)
	}
}

// injectMembers adds members (`"k":v,...`) at the end of the JSON object
// body, so that they win over earlier keys of the same name. ok is false when
// body does not look like an object.
func injectMembers(body []byte, members string) ([]byte, bool) {
	b := bytes.TrimSpace(body)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	inner := bytes.TrimSpace(b[1 : len(b)-1])
	out := make([]byte, 0, len(b)+len(members)+2)
	out = append(out, b[:len(b)-1]...)
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out = append(out, members...)
	return append(out, '}'), true
}

// Markers are values the fuzzer cannot guess; they stand for secrets and
// registrations injected into fuzzed bodies.
const (
	markerSecret1  = "fz-secret-ONE-9f27c1d0"
	markerSecret2  = "fz-secret-TWO-4be8a3f6"
	markerWebhook1 = "fz-webhook-ONE-71e0"
	markerWebhook2 = "fz-webhook-TWO-c3a9"
)

// FuzzParseWebhook checks livechat.ParseWebhook on any body:
//   - it never panics, and returns an event or an error wrapping
//     ErrWebhookJSON (then with no secret) or ErrWebhookFields;
//   - an event is well formed (platform, action, object payload, content id)
//     and survives storage (Marshal, event.Unmarshal);
//   - identical input gives an identical event and secret; the id does not
//     depend on the reception time, the secret_key or the webhook_id, and is
//     the id of action, organization and payload alone;
//   - the event never contains the secret_key: two bodies that differ only
//     in their secret give identical events, and the injected secret is
//     nowhere in the stored event.
func FuzzParseWebhook(f *testing.F) {
	fuzzSeedLiveChat(f)
	t1 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("X", 3600))
	t2 := t1.Add(time.Hour)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, secret, err := livechat.ParseWebhook(body, t1)
		switch {
		case err != nil && ev != nil:
			t.Fatalf("both an event and an error: %v", err)
		case err == nil && ev == nil:
			t.Fatal("neither an event nor an error")
		case errors.Is(err, livechat.ErrWebhookJSON):
			if secret != "" {
				t.Fatalf("secret %q returned for a body that is not an envelope", secret)
			}
		case err != nil && !errors.Is(err, livechat.ErrWebhookFields):
			t.Fatalf("error wraps neither ErrWebhookJSON nor ErrWebhookFields: %v", err)
		}
		// "Not a JSON object" means what it means to encoding/json, which
		// reads the stored events back.
		trimmed := bytes.TrimSpace(body)
		isObject := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if isObject == errors.Is(err, livechat.ErrWebhookJSON) {
			t.Fatalf("encoding/json says object: %v; ParseWebhook says: %v", isObject, err)
		}

		// Identical input, identical output (but for the reception time).
		ev2, secret2, err2 := livechat.ParseWebhook(bytes.Clone(body), t2)
		if (err == nil) != (err2 == nil) || secret != secret2 {
			t.Fatalf("not deterministic: (%v, %q) then (%v, %q)", err, secret, err2, secret2)
		}
		if err != nil {
			return
		}
		checkLiveChatEvent(t, ev, t1)
		if ev2.ID != ev.ID {
			t.Fatalf("id depends on the reception time: %s then %s", ev.ID, ev2.ID)
		}
		ev2.ReceivedAt = ev.ReceivedAt
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("identical input, different events:\n%+v\n%+v", ev, ev2)
		}

		// The id is that of action, organization and payload alone.
		// (The payload is kept byte for byte, so it is spliced in unchanged.)
		action, _ := json.Marshal(ev.Action)
		org, _ := json.Marshal(ev.Tenant)
		minimal := []byte(`{"action":` + string(action) + `,"organization_id":` + string(org) + `,"payload":` + string(ev.Payload) + `}`)
		if m, _, err := livechat.ParseWebhook(minimal, t1); err != nil || m.ID != ev.ID {
			t.Fatalf("id is not derived from action, organization and payload only: %v (%s)", err, minimal)
		}

		checkSecretIndependence(t, body, t1)
	})
}

// checkLiveChatEvent checks the shape of a parsed event and that it survives
// storage.
func checkLiveChatEvent(t *testing.T, ev *event.Event, receivedAt time.Time) {
	t.Helper()
	if ev.Platform != event.LiveChat || ev.Action == "" || ev.Source != event.SourceWebhook {
		t.Fatalf("malformed event: %+v", ev)
	}
	if !ev.ReceivedAt.Equal(receivedAt) || ev.ReceivedAt.Location() != time.UTC {
		t.Fatalf("received_at %v, want %v in UTC", ev.ReceivedAt, receivedAt)
	}
	if id, err := hex.DecodeString(ev.ID); err != nil || len(id) != 16 {
		t.Fatalf("id %q is not 32 hex digits", ev.ID)
	}
	if len(ev.Payload) == 0 || ev.Payload[0] != '{' || !json.Valid(ev.Payload) {
		t.Fatalf("payload is not a JSON object: %q", ev.Payload)
	}
	if len(ev.AdditionalData) > 0 && !json.Valid(ev.AdditionalData) {
		t.Fatalf("additional_data is not JSON: %q", ev.AdditionalData)
	}
	data, err := ev.Marshal()
	if err != nil {
		t.Fatalf("a parsed event cannot be stored: %v", err)
	}
	back, err := event.Unmarshal(data)
	if err != nil {
		t.Fatalf("a stored event cannot be read back: %v", err)
	}
	if back.ID != ev.ID || back.Action != ev.Action || back.Tenant != ev.Tenant ||
		back.ChatID != ev.ChatID || back.ThreadID != ev.ThreadID || back.WebhookID != ev.WebhookID {
		t.Fatalf("event changed through storage:\n%+v\n%+v", ev, back)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("stored event is not an object: %v", err)
	}
	for k := range top {
		if strings.EqualFold(k, "secret_key") || strings.Contains(strings.ToLower(k), "secret") {
			t.Fatalf("stored event has a %q field", k)
		}
	}
}

// checkSecretIndependence injects two different secrets (and webhook ids)
// into body and checks that the events do not differ and do not contain
// them.
func checkSecretIndependence(t *testing.T, body []byte, at time.Time) {
	t.Helper()
	for _, m := range []string{markerSecret1, markerSecret2, markerWebhook1, markerWebhook2} {
		if bytes.Contains(body, []byte(m)) {
			return
		}
	}
	b1, ok := injectMembers(body, `"secret_key":"`+markerSecret1+`","webhook_id":"`+markerWebhook1+`"`)
	if !ok {
		return
	}
	b2, _ := injectMembers(body, `"secret_key":"`+markerSecret2+`","webhook_id":"`+markerWebhook2+`"`)
	ev1, s1, err1 := livechat.ParseWebhook(b1, at)
	ev2, s2, err2 := livechat.ParseWebhook(b2, at)
	if err1 != nil || err2 != nil {
		// The body was an envelope; adding two string members keeps it one.
		t.Fatalf("injecting secret_key and webhook_id broke the envelope: %v / %v", err1, err2)
	}
	if s1 != markerSecret1 || s2 != markerSecret2 {
		t.Fatalf("the last secret_key is not the one returned: %q, %q", s1, s2)
	}
	if ev1.WebhookID != markerWebhook1 || ev2.WebhookID != markerWebhook2 {
		t.Fatalf("the last webhook_id is not the one kept: %q, %q", ev1.WebhookID, ev2.WebhookID)
	}
	if ev1.ID != ev2.ID {
		t.Fatalf("the id depends on secret_key or webhook_id: %s, %s", ev1.ID, ev2.ID)
	}
	ev2.WebhookID = ev1.WebhookID
	if !reflect.DeepEqual(ev1, ev2) {
		t.Fatalf("the event depends on secret_key:\n%+v\n%+v", ev1, ev2)
	}
	data, err := ev1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(markerSecret1)) {
		t.Fatalf("stored event contains the secret_key: %s", data)
	}
}
