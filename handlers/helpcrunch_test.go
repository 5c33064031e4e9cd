package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/samples"
)

const (
	hcKey   = "hc-signing-key-0123456789"
	rcToken = "rc-webhook-token-0123456789"
)

// newPlatformTestServer is newTestServer with the HelpCrunch signing key and
// the Rocket.Chat token set.
func newPlatformTestServer(t *testing.T, hcSigningKey, rcWebhookToken string, maxBody int64) *testServer {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ts := &testServer{pub: &fakePublisher{}, metrics: metrics.New(), logs: logs}
	e := New(Deps{
		Logger: zap.New(core), Metrics: ts.metrics, Publisher: ts.pub, Receive: true,
		Ready:        readyFunc(func(context.Context) error { return nil }),
		Receivers:    receivers(nil, hcSigningKey, rcWebhookToken),
		MaxBodyBytes: maxBody, PublishTimeout: time.Second,
		Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
	})
	ts.srv = httptest.NewServer(e)
	t.Cleanup(ts.srv.Close)
	return ts
}

// postWebhook posts body to path with the given headers.
func (ts *testServer) postWebhook(t *testing.T, path string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.srv.URL+path, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (ts *testServer) postHelpCrunch(t *testing.T, body []byte, signature string) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{}
	if signature != "" {
		h["X-HelpCrunch-Signature"] = signature
	}
	return ts.postWebhook(t, "/webhooks/helpcrunch", bytes.NewReader(body), h)
}

func TestHelpCrunchWebhookStatus(t *testing.T) {
	valid := samples.HelpCrunch("chat.closed", "542335", "evt-1")
	sign := func(b []byte) string { return samples.HelpCrunchSignature(b, hcKey) }
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
	big := withField("eventData", map[string]any{"id": 1, "pad": strings.Repeat("x", 5000)})
	malformed := []byte(`{"event": "chat.closed", "eventData": {`)

	tests := []struct {
		name       string
		body       []byte
		signature  string // "" sends none
		publishErr error
		wantStatus int
		wantReason string
	}{
		{name: "valid", body: valid, signature: sign(valid), wantStatus: 200},
		{name: "uppercase hex signature", body: valid, signature: strings.ToUpper(sign(valid)), wantStatus: 200},
		{name: "unknown event is stored", body: withField("event", "chat.teleported"), signature: sign(withField("event", "chat.teleported")), wantStatus: 200},
		{name: "missing signature", body: valid, wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "wrong signature", body: valid, signature: samples.HelpCrunchSignature(valid, "other-key"), wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "signature of another body", body: valid, signature: sign(withField("attempts", 1)), wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "signature not hex", body: valid, signature: "att73h99zvs9ipdmaj2rmr4oi5jhtwubs6q6tfwr", wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "truncated signature", body: valid, signature: sign(valid)[:20], wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "bad signature beats malformed body", body: malformed, signature: "00", wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "malformed JSON, signed", body: malformed, signature: sign(malformed), wantStatus: 400, wantReason: reasonMalformed},
		{name: "empty body, signed", body: []byte{}, signature: sign([]byte{}), wantStatus: 400, wantReason: reasonMalformed},
		{name: "not an object, signed", body: []byte(`[1]`), signature: sign([]byte(`[1]`)), wantStatus: 400, wantReason: reasonMalformed},
		{name: "missing event", body: withField("event", nil), signature: sign(withField("event", nil)), wantStatus: 400, wantReason: reasonMalformed},
		{name: "eventData not an object", body: withField("eventData", "x"), signature: sign(withField("eventData", "x")), wantStatus: 400, wantReason: reasonMalformed},
		{name: "too large", body: big, signature: sign(big), wantStatus: 413, wantReason: reasonTooLarge},
		{name: "broker cannot store", body: valid, signature: sign(valid), publishErr: errors.New("nats: timeout"), wantStatus: 503, wantReason: reasonUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 4096)
			ts.pub.err = tt.publishErr
			resp, body := ts.postHelpCrunch(t, tt.body, tt.signature)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", body)
			if tt.wantStatus == 200 {
				assert.Empty(t, body)
				assert.Len(t, ts.pub.published(), 1)
			} else {
				assert.Empty(t, ts.pub.published())
			}
			if tt.wantStatus == 503 {
				assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
			}
			if tt.wantReason != "" {
				assert.Equal(t, 1.0, testutil.ToFloat64(ts.metrics.WebhooksRejected.WithLabelValues(event.HelpCrunch, tt.wantReason)))
			}
		})
	}
}

func TestHelpCrunchWebhookNoKeyConfigured(t *testing.T) {
	ts := newPlatformTestServer(t, "", rcToken, 1<<20)
	body := samples.HelpCrunch("chat.new", "1", "e")
	for _, sig := range []string{"", samples.HelpCrunchSignature(body, "")} {
		resp, _ := ts.postHelpCrunch(t, body, sig)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an empty key must never verify")
	}
	assert.Empty(t, ts.pub.published())
}

func TestHelpCrunchWebhookEvents(t *testing.T) {
	events := samples.HelpCrunchEvents()
	require.Len(t, events, 20, "one fixture per documented event")
	for _, name := range events {
		t.Run(name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
			body, sig := samples.HelpCrunchSigned(name, hcKey, "542335", "evt-"+name)
			resp, rb := ts.postHelpCrunch(t, body, sig)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", rb)
			evs := ts.pub.published()
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Equal(t, event.HelpCrunch, ev.Platform)
			assert.Equal(t, name, ev.Action)
			assert.Equal(t, event.SourceWebhook, ev.Source)
			assert.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), ev.ReceivedAt)
			assert.NotEmpty(t, ev.ID)
			assert.Empty(t, ev.Tenant, "the documented envelope names no organization")
			if strings.HasPrefix(name, "customer.") {
				assert.Empty(t, ev.ChatID, "customer events carry no chat")
			} else {
				assert.Equal(t, "542335", ev.ChatID)
			}
			var data map[string]any
			require.NoError(t, json.Unmarshal(ev.Payload, &data), "the payload is eventData")
			assert.NotContains(t, data, "attempts")
			assert.Equal(t, 1.0, testutil.ToFloat64(ts.metrics.WebhooksReceived.WithLabelValues(event.HelpCrunch, name)))
		})
	}
}

func TestHelpCrunchWebhookChatIDShapes(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"chat event with id (chat.new)", `{"event":"chat.new","eventData":{"id":1001},"id":"e1"}`, "1001"},
		{"chat event with chat_id", `{"event":"chat.assigned","eventData":{"chat_id":1002,"id":77},"id":"e2"}`, "1002"},
		{"chat_id as a string", `{"event":"chat.closed","eventData":{"chat_id":"1003"},"id":"e3"}`, "1003"},
		{"message event with chat_id", `{"event":"message.chat.customer","eventData":{"chat_id":1004,"message":{"id":9}},"id":"e4"}`, "1004"},
		{"message event ignores eventData.id", `{"event":"message.private","eventData":{"id":9},"id":"e5"}`, ""},
		{"nested chat object", `{"event":"chat.rated","eventData":{"chat":{"id":1006}},"id":"e6"}`, "1006"},
		{"customer event", `{"event":"customer.new","eventData":{"id":8745474},"id":"e7"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
			resp, b := ts.postHelpCrunch(t, []byte(tt.body), samples.HelpCrunchSignature([]byte(tt.body), hcKey))
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
			require.Len(t, ts.pub.published(), 1)
			assert.Equal(t, tt.want, ts.pub.published()[0].ChatID)
		})
	}
}

func TestHelpCrunchWebhookTenant(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	body := []byte(`{"event":"chat.new","eventData":{"id":1},"id":"e","organization":"acme"}`)
	resp, _ := ts.postHelpCrunch(t, body, samples.HelpCrunchSignature(body, hcKey))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "acme", ts.pub.published()[0].Tenant)
}

func TestHelpCrunchWebhookDedupID(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	sent := time.Unix(samples.HelpCrunchSentAt, 0)
	first := samples.HelpCrunchAt("chat.assigned", "542335", "evt-A", sent, sent)
	retry := bytes.Replace(samples.HelpCrunchAt("chat.assigned", "542335", "evt-A", sent, sent.Add(2*time.Minute)),
		[]byte(`"attempts": 0`), []byte(`"attempts": 2`), 1)
	require.NotEqual(t, first, retry)
	other := samples.HelpCrunch("chat.assigned", "542335", "evt-B")
	noID := []byte(`{"event":"chat.assigned","eventData":{"id":542335,"status":"opened"},"attempts":0}`)
	noIDRetry := []byte(`{"event":"chat.assigned","eventData":{"id":542335,"status":"opened"},"attempts":1}`)
	for _, b := range [][]byte{first, first, retry, other, noID, noIDRetry} {
		resp, rb := ts.postHelpCrunch(t, b, samples.HelpCrunchSignature(b, hcKey))
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", rb)
	}
	evs := ts.pub.published()
	require.Len(t, evs, 6)
	assert.Equal(t, evs[0].ID, evs[1].ID, "the same delivery twice")
	assert.Equal(t, evs[0].ID, evs[2].ID, "a retry changes attempts, not the id")
	assert.NotEqual(t, evs[0].ID, evs[3].ID, "another event id is another event")
	assert.Equal(t, evs[4].ID, evs[5].ID, "without an event id, the id comes from the content")
	assert.NotEqual(t, evs[0].ID, evs[4].ID)
}

func TestHelpCrunchWebhookSecretsNeverStoredOrLogged(t *testing.T) {
	ts := newPlatformTestServer(t, hcKey, rcToken, 1<<20)
	var sigs []string
	for i, name := range samples.HelpCrunchEvents() {
		body, sig := samples.HelpCrunchSigned(name, hcKey, "542335", fmt.Sprintf("evt-%d", i))
		sigs = append(sigs, sig)
		resp, _ := ts.postHelpCrunch(t, body, sig)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
	}
	// Rejected ones too: neither a wrong signature nor the right one for
	// another body may be logged.
	body := samples.HelpCrunch("chat.new", "1", "x")
	wrong := samples.HelpCrunchSignature(body, hcKey+"-wrong")
	sigs = append(sigs, wrong)
	resp, _ := ts.postHelpCrunch(t, body, wrong)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	for _, ev := range ts.pub.published() {
		data, err := ev.Marshal()
		require.NoError(t, err)
		assert.NotContains(t, string(data), hcKey)
		for _, s := range sigs {
			assert.NotContains(t, string(data), s)
		}
	}
	for _, entry := range ts.logs.All() {
		line, _ := json.Marshal(entry.ContextMap())
		text := entry.Message + string(line)
		assert.NotContains(t, text, hcKey)
		for _, s := range sigs {
			assert.NotContains(t, text, s)
		}
	}
}
