package helpcrunch_test

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
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/samples"
)

// fzSeedBodies are the fixtures (as stored and with their placeholders
// replaced) and hand-made edge cases.
func fzSeedBodies(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, name := range samples.HelpCrunchEvents() {
		raw, err := samples.HelpCrunchRaw(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, raw, samples.HelpCrunch(name, "42", ""))
	}
	deep := strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)
	tooDeep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	for _, s := range []string{
		"", "null", "{}", "[]", `"x"`, "1e999999", " \t\n",
		`{"event":null,"eventData":null}`,
		`{"event":"chat.new","eventData":{}}`,
		`{"event":"  ","eventData":{}}`,
		`{"event":"chat.new","eventData":"x"}`,
		`{"event":"chat.new","eventData":  {"id":1}  }`,
		// Huge and odd numbers where ids and counters are expected.
		`{"event":"chat.new","eventData":{"id":1e999999},"id":123456789012345678901234567890,"attempts":1e999999,"lastAttemptAt":-9.9e308,"createdAt":"NaN"}`,
		`{"event":"chat.new","eventData":{"id":-0.0},"id":-0,"attempts":"Infinity","lastAttemptAt":"0x10","createdAt":"1e19"}`,
		`{"event":"message.chat.customer","eventData":{"chat_id":{"x":1},"chatId":[1],"chat":"C"},"id":{"nested":1}}`,
		`{"event":"message.chat.customer","eventData":{"chat":{"id":7}},"id":true}`,
		// Deep nesting, within and beyond encoding/json's limit.
		`{"event":"chat.new","eventData":{"id":1,"deep":` + deep + `}}`,
		`{"event":"chat.new","eventData":{"id":1,"deep":` + tooDeep + `}}`,
		// Invalid UTF-8, a BOM, escapes.
		"{\"event\":\"chat.\xff\",\"eventData\":{\"id\":\"\xc3\x28\"},\"id\":\"\xfe\"}",
		"\xef\xbb\xbf{\"event\":\"chat.new\",\"eventData\":{}}",
		`{"event":"chat\u002enew","eventData":{"id":"\u0000\u2028"}}`,
		// Duplicate and differently cased keys.
		`{"event":"chat.new","event":"chat.closed","eventData":{"id":1},"eventData":{"id":2},"id":"a","id":"b"}`,
		`{"EVENT":"chat.new","EventData":{"ID":1},"ID":"x","Organization":"o","DOMAIN":"d"}`,
		// Trailing data.
		`{"event":"chat.new","eventData":{}} {}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

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

// FuzzParseWebhook checks helpcrunch.ParseWebhook, ChatID and Normalize on
// any body:
//   - no panic; an error wraps ErrMalformedWebhook;
//   - a decoded webhook has an event name and an object eventData, and its
//     event is well formed and survives storage;
//   - identical input gives identical webhooks and events (the id does not
//     depend on the reception time);
//   - a retried delivery (other attempts and lastAttemptAt) gives the same
//     event, so retries collapse.
func FuzzParseWebhook(f *testing.F) {
	for _, b := range fzSeedBodies(f) {
		f.Add(b)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := helpcrunch.ParseWebhook(body)
		w2, err2 := helpcrunch.ParseWebhook(bytes.Clone(body))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v then %v", err, err2)
		}
		if err != nil {
			if w != nil {
				t.Fatalf("a webhook and an error: %v", err)
			}
			if !errors.Is(err, helpcrunch.ErrMalformedWebhook) {
				t.Fatalf("error does not wrap ErrMalformedWebhook: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(w, w2) {
			t.Fatalf("identical input, different webhooks:\n%+v\n%+v", w, w2)
		}
		if strings.TrimSpace(w.Event) == "" || len(w.EventData) == 0 || w.EventData[0] != '{' || !json.Valid(w.EventData) {
			t.Fatalf("webhook without event name or object eventData: %+v", w)
		}
		ev := w.Normalize(at)
		checkEvent(t, w, ev, at)
		ev2 := w2.Normalize(at.Add(time.Hour))
		ev2.ReceivedAt = ev.ReceivedAt
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("identical input, different events:\n%+v\n%+v", ev, ev2)
		}

		// A retry changes the counters only; the event stays the same.
		first, ok := fzInjectMembers(body, `"attempts":0,"lastAttemptAt":1765450800`)
		if !ok {
			return
		}
		retry, _ := fzInjectMembers(body, `"attempts":3,"lastAttemptAt":"1765451999.5"`)
		wf, err1 := helpcrunch.ParseWebhook(first)
		wr, err2 := helpcrunch.ParseWebhook(retry)
		if err1 != nil || err2 != nil {
			t.Fatalf("adding counters broke an accepted body: %v / %v", err1, err2)
		}
		if wf.Attempts != 0 || wr.Attempts != 3 || wr.LastAttemptAt != 1765451999 {
			t.Fatalf("counters not read: %+v, %+v", wf, wr)
		}
		if a, b := wf.Normalize(at), wr.Normalize(at); !reflect.DeepEqual(a, b) {
			t.Fatalf("a retried delivery is another event:\n%+v\n%+v", a, b)
		}
	})
}

func checkEvent(t *testing.T, w *helpcrunch.Webhook, ev *event.Event, at time.Time) {
	t.Helper()
	if ev.Platform != event.HelpCrunch || ev.Action != w.Event || ev.Source != event.SourceWebhook ||
		ev.ChatID != w.ChatID() || ev.Tenant != w.Organization || !bytes.Equal(ev.Payload, w.EventData) {
		t.Fatalf("event does not reflect the webhook: %+v\n%+v", ev, w)
	}
	if !ev.ReceivedAt.Equal(at) || ev.ReceivedAt.Location() != time.UTC {
		t.Fatalf("received_at %v, want %v in UTC", ev.ReceivedAt, at)
	}
	if id, err := hex.DecodeString(ev.ID); err != nil || len(id) != 16 {
		t.Fatalf("id %q is not 32 hex digits", ev.ID)
	}
	data, err := ev.Marshal()
	if err != nil {
		t.Fatalf("event cannot be stored: %v", err)
	}
	back, err := event.Unmarshal(data)
	if err != nil || back.ID != ev.ID || back.ChatID != ev.ChatID || back.Action != ev.Action {
		t.Fatalf("stored event cannot be read back: %v", err)
	}
}

// FuzzVerifySignature checks helpcrunch.VerifySignature: no panic; the
// signature Sign makes verifies (in any case, with surrounding space) unless
// the key is empty; a signature of another body or key, a changed one and an
// empty one never verify; and an arbitrary signature verifies only when it
// is the right one.
func FuzzVerifySignature(f *testing.F) {
	for _, b := range fzSeedBodies(f)[:8] {
		f.Add(b, samples.HelpCrunchSigningKey, "")
		f.Add(b, samples.HelpCrunchSigningKey, samples.HelpCrunchSignature(b, samples.HelpCrunchSigningKey))
	}
	f.Add([]byte("{}"), "", "")
	f.Add([]byte("{}"), "k", "zz")
	f.Add([]byte("{}"), "k", strings.Repeat("0", 40))
	f.Add([]byte("{}"), "k\x00\xff", " \t"+strings.Repeat("a", 40)+"\n")
	f.Fuzz(func(t *testing.T, body []byte, key, sig string) {
		good := helpcrunch.Sign(body, key)
		if got := helpcrunch.VerifySignature(body, good, key); got != (key != "") {
			t.Fatalf("own signature verifies %v with key %q", got, key)
		}
		if key == "" {
			if helpcrunch.VerifySignature(body, sig, key) {
				t.Fatal("an empty key verified a signature")
			}
			return
		}
		for name, s := range map[string]string{
			"upper case":        strings.ToUpper(good),
			"surrounding space": " \t" + good + "\r\n",
		} {
			if !helpcrunch.VerifySignature(body, s, key) {
				t.Fatalf("%s signature does not verify", name)
			}
		}
		flipped := []byte(good)
		if flipped[0] == '0' {
			flipped[0] = '1'
		} else {
			flipped[0] = '0'
		}
		for name, s := range map[string]string{
			"empty":      "",
			"changed":    string(flipped),
			"other key":  helpcrunch.Sign(body, key+"x"),
			"other body": helpcrunch.Sign(append(bytes.Clone(body), ' '), key),
			"truncated":  good[:len(good)-2],
		} {
			if helpcrunch.VerifySignature(body, s, key) {
				t.Fatalf("%s signature verifies", name)
			}
		}
		want := strings.EqualFold(strings.TrimSpace(sig), good)
		if got := helpcrunch.VerifySignature(body, sig, key); got != want {
			t.Fatalf("signature %q verifies %v, want %v (right one %s)", sig, got, want, good)
		}
	})
}
