package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/handlers"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/platform"
	hcp "github.com/chatwarden/chatwarden/platform/helpcrunch"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	rcp "github.com/chatwarden/chatwarden/platform/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/samples"
)

// The receivers' fuzz targets drive the real echo instance (handlers.New)
// in-process with one request per input. The second fuzz argument is a mode
// byte; its bits choose how the request is sent:
const (
	fzCredMask   = 0b11    // bits 0-1: which credential (see each target)
	fzPublishErr = 1 << 2  // the publisher fails: 503
	fzPad        = 1 << 3  // pad the body with spaces beyond the size cap: 413
	fzChunked    = 1 << 4  // no Content-Length: the cap applies while reading
	fzDuplicate  = 1 << 5  // the publisher reports a duplicate
	fzInject     = 1 << 6  // inject secret-bearing members into the body
	fzMaxBody    = 8 << 10 // http.max_body_bytes of the fuzzed receivers
)

// Distinctive credentials of the fuzzed receivers and the wrong ones sent.
const (
	fzLiveChatSecret    = "fz-lc-current-5d1e8a07"
	fzLiveChatOldSecret = "fz-lc-old-a7c203b2"
	fzLiveChatGuess     = "fz-lc-guess-33b9f0c4"
	fzHelpCrunchKey     = "fz-hc-signing-key-0e6f41"
	fzHelpCrunchWrong   = "fz-hc-wrong-key-8d2b77"
	fzRocketChatToken   = "fz-rc-token-b50a9e13"
	fzRocketChatWrong   = "fz-rc-wrong-4c17e2"
	fzVisitorToken      = "fz-rc-visitor-token-6a0d"
	fzTopLevelToken     = "fz-rc-top-token-92fe"
)

// fzAllowed are the only statuses a webhook receiver may answer.
var fzAllowed = map[int]bool{200: true, 400: true, 401: true, 413: true, 503: true}

var fzNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fzPublisher records events; it fails or reports duplicates on demand.
type fzPublisher struct {
	mu     sync.Mutex
	events []*event.Event
	fail   bool
	dup    bool
}

func (p *fzPublisher) Publish(_ context.Context, ev *event.Event) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return false, errors.New("fuzz: broker unavailable")
	}
	p.events = append(p.events, ev)
	return p.dup, nil
}

// fzLog is a zap sink at debug level whose whole output can be searched.
type fzLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *fzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *fzLog) Sync() error { return nil }

func (l *fzLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// fzExchange is one request to the receiver and what came of it.
type fzExchange struct {
	status    int
	header    http.Header
	body      []byte
	published []*event.Event
	log       string
}

// fzReceiver is the echo instance of the fuzz targets, built once per fuzz
// worker (building one per input costs more than the request): the inputs of
// one worker run one at a time, and each starts from an empty publisher and
// log.
type fzReceiver struct {
	e    http.Handler
	pub  *fzPublisher
	logs *fzLog
}

func newFzReceiver() *fzReceiver {
	r := &fzReceiver{pub: &fzPublisher{}, logs: &fzLog{}}
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), r.logs, zap.DebugLevel))
	r.e = handlers.New(handlers.Deps{
		Logger: logger, Metrics: metrics.New(), Publisher: r.pub, Receive: true,
		Receivers: map[string]platform.Receiver{
			event.LiveChat:   lcp.NewReceiver(fzLiveChatSecret, fzLiveChatOldSecret),
			event.HelpCrunch: hcp.Receiver{SigningKey: fzHelpCrunchKey},
			event.RocketChat: rcp.NewReceiver(fzRocketChatToken),
		},
		MaxBodyBytes:   fzMaxBody,
		PublishTimeout: time.Second,
		Now:            func() time.Time { return fzNow },
	})
	return r
}

// serve sends body to path with header, per mode.
func (r *fzReceiver) serve(path string, body []byte, header http.Header, mode uint8) fzExchange {
	r.pub.mu.Lock()
	r.pub.events, r.pub.fail, r.pub.dup = nil, mode&fzPublishErr != 0, mode&fzDuplicate != 0
	r.pub.mu.Unlock()
	r.logs.mu.Lock()
	r.logs.buf.Reset()
	r.logs.mu.Unlock()

	var rd io.Reader = bytes.NewReader(body)
	if mode&fzChunked != 0 {
		rd = struct{ io.Reader }{rd} // hides the length from httptest
	}
	req := httptest.NewRequest(http.MethodPost, path, rd)
	if mode&fzChunked != 0 {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	r.e.ServeHTTP(rec, req)
	r.pub.mu.Lock()
	defer r.pub.mu.Unlock()
	return fzExchange{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes(),
		published: append([]*event.Event(nil), r.pub.events...), log: r.logs.String()}
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

// fzPadBeyondCap appends whitespace (insignificant in JSON) until body is
// one byte over the cap.
func fzPadBeyondCap(body []byte) []byte {
	if len(body) > fzMaxBody {
		return body
	}
	return append(bytes.Clone(body), bytes.Repeat([]byte(" "), fzMaxBody+1-len(body))...)
}

// fzCheckCommon checks what every receiver guarantees about an answer: an
// allowed status equal to want, 200 with an empty body and exactly one
// stored event, rejections as {"error": ...} with nothing stored, 503 with
// Retry-After; and none of secrets in the answer, the stored events or the
// log.
func fzCheckCommon(t *testing.T, x fzExchange, want int, secrets []string) {
	t.Helper()
	if !fzAllowed[x.status] {
		t.Fatalf("status %d is not one of 200/400/401/413/503 (body %q)", x.status, x.body)
	}
	if x.status != want {
		t.Fatalf("status %d, want %d (body %q)", x.status, want, x.body)
	}
	switch x.status {
	case http.StatusOK:
		if len(x.body) != 0 {
			t.Fatalf("200 with a body: %q", x.body)
		}
		if len(x.published) != 1 {
			t.Fatalf("200 after %d stored events, want 1", len(x.published))
		}
	default:
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(x.body, &e); err != nil || e.Error == "" {
			t.Fatalf("%d answered %q, want {\"error\": ...}", x.status, x.body)
		}
		if len(x.published) != 0 {
			t.Fatalf("%d, yet %d events were stored", x.status, len(x.published))
		}
		if x.status == http.StatusServiceUnavailable && x.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
	stored := make([]string, 0, len(x.published))
	for _, ev := range x.published {
		data, err := ev.Marshal()
		if err != nil {
			t.Fatalf("stored event cannot be encoded: %v", err)
		}
		stored = append(stored, string(data))
	}
	for _, s := range secrets {
		if bytes.Contains(x.body, []byte(s)) {
			t.Fatalf("answer contains secret %q: %q", s, x.body)
		}
		for _, data := range stored {
			if strings.Contains(data, s) {
				t.Fatalf("stored event contains secret %q: %s", s, data)
			}
		}
		if strings.Contains(x.log, s) {
			t.Fatalf("log contains secret %q:\n%s", s, x.log)
		}
	}
}

// fzContainsAny reports whether body already holds one of secrets (then the
// fuzzer found it, and the leak checks cannot tell a leak from an echo).
func fzContainsAny(body []byte, secrets []string) bool {
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			return true
		}
	}
	return false
}

// fzEdgeBodies are envelopes at the edges of JSON, shared by the seed
// corpora of the receivers.
func fzEdgeBodies() [][]byte {
	deep := strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)
	return [][]byte{
		nil,
		[]byte("null"),
		[]byte("{}"),
		[]byte("[]"),
		[]byte(`"x"`),
		[]byte("1e999999"),
		[]byte(`{"payload":null,"eventData":null,"type":null}`),
		[]byte(`{"action":"chat_deactivated","payload":{"chat_id":1e999999},"event":"chat.new","eventData":{"id":123456789012345678901234567890},"type":"Message","_id":"R"}`),
		[]byte(`{"action":"chat_deactivated","payload":{"deep":` + deep + `},"event":"chat.new","eventData":{"deep":` + deep + `},"type":"Message","_id":"R","deep":` + deep + `}`),
		[]byte("{\"action\":\"\xff\xfe\",\"payload\":{\"chat_id\":\"\xc3\x28\"},\"event\":\"chat.\xff\",\"eventData\":{},\"type\":\"\xfe\",\"_id\":\"\xff\"}"),
		[]byte(`{"action":"a","action":"b","payload":{},"payload":{"chat_id":"C"},"event":"chat.new","event":"chat.closed","eventData":{},"type":"Message","type":"LivechatSession","_id":"R","_id":"S"}`),
		[]byte(`{"ACTION":"chat_deactivated","PAYLOAD":{},"EVENT":"chat.new","EventData":{},"TYPE":"Message","_ID":"R"}`),
		[]byte(`{"action":"chat_deactivated","payload":{}} trailing`),
	}
}

// FuzzLiveChatReceiver posts any body to POST /webhooks/livechat. Mode bits
// 0-1: 0 the body as is, 1 the current secret injected as the last
// secret_key, 2 the old (rotated) secret, 3 a wrong secret. It checks,
// against fzLiveChatOracle (encoding/json and the platform's documented
// envelope, not the parser under test):
//   - the status is one of 200/400/401/413/503 and the one the documented
//     order of checks gives (413 iff over the cap, 400 not an envelope, 401
//     wrong or missing secret, 400 no action or payload or a field out of
//     bounds, 503 not stored, else 200);
//   - 200 has an empty body and stores exactly one event whose fields come
//     from the body: action, organization, webhook id, the chat and thread
//     ids at the action's documented paths, the payload and additional data
//     byte for byte, the receiver's clock; the same body again stores the
//     same id;
//   - no configured or presented secret appears in the answer, the stored
//     event or the debug log.
func FuzzLiveChatReceiver(f *testing.F) {
	for _, action := range samples.LiveChatActions() {
		raw, err := samples.LiveChatRaw(action)
		if err != nil {
			f.Fatal(err)
		}
		for _, mode := range []uint8{0, 1, 2, 3, 1 | fzPublishErr, 1 | fzPad, 1 | fzChunked, 1 | fzPad | fzChunked, 1 | fzDuplicate} {
			f.Add(raw, mode)
		}
	}
	// v3.2/v3.3 envelopes name the tenant license_id, a number.
	for _, lic := range []string{`104130623`, `"104130623"`, `-1`, `1.5`, strings.Repeat("9", event.MaxTenantLen+1)} {
		b := []byte(`{"action":"chat_deactivated","license_id":` + lic + `,"payload":{"chat_id":"C1","thread_id":"T1"}}`)
		for _, mode := range []uint8{1, 3} {
			f.Add(b, mode)
		}
	}
	for _, b := range fzEdgeBodies() {
		for _, mode := range []uint8{0, 1, 3, 1 | fzPublishErr, 1 | fzChunked} {
			f.Add(b, mode)
		}
	}
	secrets := []string{fzLiveChatSecret, fzLiveChatOldSecret, fzLiveChatGuess}
	rcv := newFzReceiver()
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		if fzContainsAny(body, secrets) {
			return
		}
		switch mode & fzCredMask {
		case 1, 2, 3:
			secret := map[uint8]string{1: fzLiveChatSecret, 2: fzLiveChatOldSecret, 3: fzLiveChatGuess}[mode&fzCredMask]
			if b, ok := fzInjectMembers(body, `"secret_key":"`+secret+`"`); ok {
				body = b
			}
		}
		if mode&fzPad != 0 {
			body = fzPadBeyondCap(body)
		}
		x := rcv.serve("/webhooks/livechat", body, nil, mode)

		want := fzLiveChatOracle(body, mode)
		fzCheckCommon(t, x, want.status, secrets)
		if x.status != http.StatusOK {
			return
		}
		want.check(t, x.published[0])
		again := rcv.serve("/webhooks/livechat", body, nil, mode&^fzChunked)
		if again.status != http.StatusOK || again.published[0].ID != x.published[0].ID {
			t.Fatalf("the same body again: status %d, ids %s / %v", again.status, x.published[0].ID, again.published)
		}
	})
}

// fzLiveChatWant is what fzLiveChatOracle expects of an answer.
type fzLiveChatWant struct {
	status int
	// For 200, the stored event's fields as read from the body.
	action, tenant, webhookID string
	tenantSet                 bool // organization_id (or license_id) gives the tenant
	chatID, threadID          string
	payload, additional       []byte
}

// fzLiveChatIDPaths are the documented places of the chat and thread ids in
// a LiveChat webhook's payload (reference/livechat.md, "ids per action").
func fzLiveChatIDPaths(action string) (chat, thread []string) {
	switch action {
	case "incoming_chat":
		return []string{"chat", "id"}, []string{"chat", "thread", "id"}
	case "chat_access_updated":
		return []string{"id"}, nil
	case "customer_session_fields_updated":
		return []string{"active_chat", "chat_id"}, []string{"active_chat", "thread_id"}
	}
	return []string{"chat_id"}, []string{"thread_id"}
}

// fzLiveChatOracle says how the LiveChat receiver must answer body, from
// encoding/json's reading of it (the last of duplicate keys wins, invalid
// UTF-8 reads as U+FFFD) and the documented order of checks, independently
// of livechat.ParseWebhook.
func fzLiveChatOracle(body []byte, mode uint8) fzLiveChatWant {
	var w fzLiveChatWant
	if len(body) > fzMaxBody {
		w.status = http.StatusRequestEntityTooLarge
		return w
	}
	var members map[string]json.RawMessage
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(body, &members) != nil {
		w.status = http.StatusBadRequest // not an envelope
		return w
	}
	// str is a member's value when it is a JSON string, else "".
	str := func(raw json.RawMessage) (string, bool) {
		var v string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return v, true
	}
	if secret, _ := str(members["secret_key"]); secret != fzLiveChatSecret && secret != fzLiveChatOldSecret {
		w.status = http.StatusUnauthorized
		return w
	}
	w.action, _ = str(members["action"])
	w.tenant, w.tenantSet = str(members["organization_id"])
	if raw := members["license_id"]; w.tenant == "" && len(raw) > 0 {
		// Before v3.4 the tenant was license_id, a non-negative integer
		// (strings are taken too); other values are no tenant.
		if v, ok := str(raw); ok {
			w.tenant, w.tenantSet = v, true
		} else if len(bytes.Trim(raw, "0123456789")) == 0 {
			w.tenant, w.tenantSet = string(raw), true
		}
	}
	w.webhookID, _ = str(members["webhook_id"])
	var payload map[string]any
	w.payload = members["payload"]
	dec := json.NewDecoder(bytes.NewReader(w.payload))
	dec.UseNumber() // numbers beyond float64 are still JSON
	if w.action == "" || len(w.payload) == 0 || w.payload[0] != '{' || dec.Decode(&payload) != nil {
		w.status = http.StatusBadRequest // no action or payload
		return w
	}
	at := func(path []string) string {
		var v any = payload
		for _, k := range path {
			obj, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = obj[k]
		}
		s, _ := v.(string)
		return s
	}
	chatPath, threadPath := fzLiveChatIDPaths(w.action)
	w.chatID = at(chatPath)
	if threadPath != nil {
		w.threadID = at(threadPath)
	}
	var additional map[string]json.RawMessage
	if raw := members["additional_data"]; len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &additional) == nil && len(additional) > 0 {
		w.additional = raw
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"action", w.action, event.MaxActionLen}, {"organization_id", w.tenant, event.MaxTenantLen},
		{"webhook_id", w.webhookID, event.MaxIDLen}, {"chat_id", w.chatID, event.MaxIDLen}, {"thread_id", w.threadID, event.MaxIDLen},
	} {
		if event.CheckField(f.name, f.v, f.max) != nil {
			w.status = http.StatusBadRequest // a field out of bounds
			return w
		}
	}
	if mode&fzPublishErr != 0 {
		w.status = http.StatusServiceUnavailable
		return w
	}
	w.status = http.StatusOK
	return w
}

// check compares the stored event with what the body says.
func (w fzLiveChatWant) check(t *testing.T, ev *event.Event) {
	t.Helper()
	got := map[string]any{
		"platform": ev.Platform, "source": ev.Source, "action": ev.Action, "webhook_id": ev.WebhookID,
		"chat_id": ev.ChatID, "thread_id": ev.ThreadID, "received_at": ev.ReceivedAt,
		"payload": string(ev.Payload), "additional_data": string(ev.AdditionalData), "id set": ev.ID != "",
	}
	want := map[string]any{
		"platform": event.LiveChat, "source": event.SourceWebhook, "action": w.action, "webhook_id": w.webhookID,
		"chat_id": w.chatID, "thread_id": w.threadID, "received_at": fzNow,
		"payload": string(w.payload), "additional_data": string(w.additional), "id set": true,
	}
	if w.tenantSet {
		got["tenant"], want["tenant"] = ev.Tenant, w.tenant
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored event differs from the body:\n got %+v\nwant %+v", got, want)
	}
	if err := ev.CheckBounds(nil); err != nil {
		t.Fatalf("stored event out of bounds: %v", err)
	}
}

// FuzzHelpCrunchReceiver posts any body to POST /webhooks/helpcrunch. Mode
// bits 0-1: 0 a valid signature, 1 none, 2 signed with a wrong key, 3 a
// valid signature in upper case with surrounding spaces. Checks as
// FuzzLiveChatReceiver (401 for a signature that does not verify, 400 for a
// body helpcrunch.ParseWebhook refuses), and the stored event is
// Normalize's; neither the signing key nor the signature appears anywhere.
func FuzzHelpCrunchReceiver(f *testing.F) {
	for _, name := range samples.HelpCrunchEvents() {
		raw, err := samples.HelpCrunchRaw(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, mode := range []uint8{0, 1, 2, 3, fzPublishErr, fzPad, fzChunked, fzPad | fzChunked, fzDuplicate} {
			f.Add(raw, mode)
		}
	}
	for _, b := range fzEdgeBodies() {
		for _, mode := range []uint8{0, 2, fzPublishErr, fzChunked} {
			f.Add(b, mode)
		}
	}
	rcv := newFzReceiver()
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		if mode&fzPad != 0 {
			body = fzPadBeyondCap(body)
		}
		sig := helpcrunch.Sign(body, fzHelpCrunchKey)
		wrongSig := helpcrunch.Sign(body, fzHelpCrunchWrong)
		secrets := []string{fzHelpCrunchKey, fzHelpCrunchWrong, sig, strings.ToUpper(sig), wrongSig}
		if fzContainsAny(body, secrets) {
			return
		}
		header := http.Header{}
		valid := true
		switch mode & fzCredMask {
		case 0:
			header.Set(helpcrunch.SignatureHeader, sig)
		case 1:
			valid = false
		case 2:
			header.Set(helpcrunch.SignatureHeader, wrongSig)
			valid = false
		case 3:
			header.Set(helpcrunch.SignatureHeader, " "+strings.ToUpper(sig)+" ")
		}
		x := rcv.serve("/webhooks/helpcrunch", body, header, mode)

		want := http.StatusOK
		w, err := helpcrunch.ParseWebhook(body)
		switch {
		case len(body) > fzMaxBody:
			want = http.StatusRequestEntityTooLarge
		case !valid:
			want = http.StatusUnauthorized
		case err != nil:
			want = http.StatusBadRequest
		case event.CheckField("id", w.ID, event.MaxIDLen) != nil || w.Normalize(fzNow).CheckBounds(nil) != nil:
			want = http.StatusBadRequest
		case mode&fzPublishErr != 0:
			want = http.StatusServiceUnavailable
		}
		fzCheckCommon(t, x, want, secrets)
		if x.status != http.StatusOK {
			return
		}
		if ev := w.Normalize(fzNow); !reflect.DeepEqual(x.published[0], ev) {
			t.Fatalf("stored event differs from Normalize's:\n%+v\n%+v", x.published[0], ev)
		}
		again := rcv.serve("/webhooks/helpcrunch", body, header, mode&^fzChunked)
		if again.status != http.StatusOK || again.published[0].ID != x.published[0].ID {
			t.Fatalf("the same body again: status %d, ids %s / %v", again.status, x.published[0].ID, again.published)
		}
	})
}

// FuzzRocketChatReceiver posts any body to POST /webhooks/rocketchat. Mode
// bits 0-1: 0 the right token, 1 none, 2 a wrong one, 3 a prefix of the
// right one; fzInject adds a visitor token and a top-level token to the body.
// Checks as FuzzLiveChatReceiver (401 unless the token matches, 400 for a
// body rocketchat.ParseWebhook refuses), and the stored event is
// Normalize's; neither the webhook token nor the visitor's appears anywhere.
func FuzzRocketChatReceiver(f *testing.F) {
	for _, typ := range samples.RocketChatTypes() {
		raw, err := samples.RocketChatRaw(typ)
		if err != nil {
			f.Fatal(err)
		}
		for _, mode := range []uint8{0, 1, 2, 3, fzInject, fzPublishErr, fzPad, fzChunked, fzPad | fzChunked, fzDuplicate} {
			f.Add(raw, mode)
		}
	}
	for _, b := range fzEdgeBodies() {
		for _, mode := range []uint8{0, 2, fzInject, fzPublishErr, fzChunked} {
			f.Add(b, mode)
		}
	}
	secrets := []string{fzRocketChatToken, fzRocketChatWrong, fzVisitorToken, fzTopLevelToken, samples.RocketChatVisitorToken}
	rcv := newFzReceiver()
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		if fzContainsAny(body, secrets[:4]) {
			return
		}
		if mode&fzInject != 0 {
			if b, ok := fzInjectMembers(body, `"token":"`+fzTopLevelToken+`","visitor":{"_id":"V","token":"`+fzVisitorToken+`"}`); ok {
				body = b
			}
		}
		if mode&fzPad != 0 {
			body = fzPadBeyondCap(body)
		}
		// The fixtures' visitor token must go too, unless the fuzzer moved
		// it somewhere else than visitor.token.
		checked := secrets[:4]
		if fzVisitorTokenOnlyUnderVisitor(body, samples.RocketChatVisitorToken) {
			checked = secrets
		}
		header := http.Header{}
		switch mode & fzCredMask {
		case 0:
			header.Set(rocketchat.TokenHeader, fzRocketChatToken)
		case 2:
			header.Set(rocketchat.TokenHeader, fzRocketChatWrong)
		case 3:
			header.Set(rocketchat.TokenHeader, fzRocketChatToken[:len(fzRocketChatToken)-1])
		}
		x := rcv.serve("/webhooks/rocketchat", body, header, mode)

		want := http.StatusOK
		w, err := rocketchat.ParseWebhook(body)
		switch {
		case len(body) > fzMaxBody:
			want = http.StatusRequestEntityTooLarge
		case mode&fzCredMask != 0:
			want = http.StatusUnauthorized
		case err != nil:
			want = http.StatusBadRequest
		case w.Normalize(fzNow).CheckBounds(nil) != nil:
			want = http.StatusBadRequest
		case mode&fzPublishErr != 0:
			want = http.StatusServiceUnavailable
		}
		fzCheckCommon(t, x, want, checked)
		if x.status != http.StatusOK {
			return
		}
		if ev := w.Normalize(fzNow); !reflect.DeepEqual(x.published[0], ev) {
			t.Fatalf("stored event differs from Normalize's:\n%+v\n%+v", x.published[0], ev)
		}
		again := rcv.serve("/webhooks/rocketchat", body, header, mode&^fzChunked)
		if again.status != http.StatusOK || again.published[0].ID != x.published[0].ID {
			t.Fatalf("the same body again: status %d, ids %s / %v", again.status, x.published[0].ID, again.published)
		}
	})
}

// fzVisitorTokenOnlyUnderVisitor reports whether token occurs in body
// exactly as often as it is the value of the top-level visitor.token (the
// only place Rocket.Chat puts it), so that its absence from what is stored
// can be asserted.
func fzVisitorTokenOnlyUnderVisitor(body []byte, token string) bool {
	n := bytes.Count(body, []byte(token))
	if n == 0 {
		return false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return false
	}
	var visitor map[string]json.RawMessage // exact keys, as ParseWebhook deletes them
	if json.Unmarshal(top["visitor"], &visitor) != nil {
		return false
	}
	var v string
	if json.Unmarshal(visitor["token"], &v) != nil {
		return false
	}
	return n == 1 && v == token && bytes.Count(visitor["token"], []byte(token)) == 1
}
