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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/samples"
)

// fakePublisher records published events; err makes it fail, dup makes it
// report duplicates.
type fakePublisher struct {
	mu     sync.Mutex
	events []*event.Event
	err    error
	dup    bool
}

func (p *fakePublisher) Publish(_ context.Context, ev *event.Event) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return false, p.err
	}
	p.events = append(p.events, ev)
	return p.dup, nil
}

func (p *fakePublisher) published() []*event.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*event.Event(nil), p.events...)
}

type readyFunc func(context.Context) error

func (f readyFunc) Ready(ctx context.Context) error { return f(ctx) }

type testServer struct {
	srv     *httptest.Server
	pub     *fakePublisher
	metrics *metrics.Metrics
	logs    *observer.ObservedLogs
}

func newTestServer(t *testing.T, secrets []string, maxBody int64) *testServer {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ts := &testServer{pub: &fakePublisher{}, metrics: metrics.New(), logs: logs}
	e := New(Deps{
		Logger: zap.New(core), Metrics: ts.metrics, Publisher: ts.pub, Receive: true,
		Ready:     readyFunc(func(context.Context) error { return nil }),
		Receivers: receivers(secrets, "", ""), MaxBodyBytes: maxBody, PublishTimeout: time.Second,
		Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
	})
	ts.srv = httptest.NewServer(e)
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *testServer) post(t *testing.T, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(ts.srv.URL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestLiveChatWebhookStatus(t *testing.T) {
	valid := samples.LiveChat("chat_deactivated", "s3cret", "CHAT1", "THREAD1")
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
	big := withField("payload", map[string]any{"chat_id": "CHAT1", "pad": strings.Repeat("x", 5000)})

	tests := []struct {
		name       string
		body       []byte
		publishErr error
		wantStatus int
		wantStored bool
		wantReason string
	}{
		{name: "valid", body: valid, wantStatus: 200, wantStored: true},
		{name: "unknown action is stored", body: samples.LiveChat("unknown_action", "s3cret", "C", "T"), wantStatus: 200, wantStored: true},
		{name: "malformed JSON", body: []byte(`{"action": "chat_deactivated", "secret_key": "s3cret",`), wantStatus: 400, wantReason: reasonMalformed},
		{name: "not an object", body: []byte(`[1,2,3]`), wantStatus: 400, wantReason: reasonMalformed},
		{name: "empty body", body: nil, wantStatus: 400, wantReason: reasonMalformed},
		{name: "missing action", body: withField("action", nil), wantStatus: 400, wantReason: reasonMalformed},
		{name: "missing payload", body: withField("payload", nil), wantStatus: 400, wantReason: reasonMalformed},
		{name: "payload not an object", body: withField("payload", "chat"), wantStatus: 400, wantReason: reasonMalformed},
		{name: "wrong secret", body: withField("secret_key", "guess"), wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "missing secret", body: withField("secret_key", nil), wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "second secret (rotation)", body: withField("secret_key", "old-secret"), wantStatus: 200, wantStored: true},
		{name: "wrong secret beats missing action", body: []byte(`{"secret_key":"guess"}`), wantStatus: 401, wantReason: reasonUnauthorized},
		{name: "too large", body: big, wantStatus: 413, wantReason: reasonTooLarge},
		{name: "broker cannot store", body: valid, publishErr: errors.New("nats: timeout"), wantStatus: 503, wantReason: reasonUnavailable},
		{name: "broker storage full", body: valid, publishErr: fmt.Errorf("publishing event E: %w: no space left on device", bus.ErrStorageFull),
			wantStatus: 503, wantReason: reasonStorageFull},
		{name: "broker not connected", body: valid, publishErr: bus.ErrNotConnected, wantStatus: 503, wantReason: reasonBrokerUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, []string{"s3cret", "old-secret"}, 4096)
			ts.pub.err = tt.publishErr
			resp := ts.post(t, tt.body)
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", body)
			if tt.wantStatus == 200 {
				assert.Empty(t, body, "LiveChat and Rocket.Chat want an empty 200")
			}
			if tt.wantStatus == 503 {
				assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
			}
			assert.Equal(t, tt.wantStored, len(ts.pub.published()) == 1)
			if tt.wantReason != "" {
				assert.Equal(t, 1.0, testutil.ToFloat64(ts.metrics.WebhooksRejected.WithLabelValues(event.LiveChat, tt.wantReason)))
			}
		})
	}
}

func TestLiveChatWebhookTooLargeChunked(t *testing.T) {
	ts := newTestServer(t, []string{"s3cret"}, 2048)
	// An io.Reader of unknown length is sent chunked, without Content-Length.
	body := io.MultiReader(bytes.NewReader(samples.LiveChat("incoming_chat", "s3cret", "C", "T")), strings.NewReader(strings.Repeat(" ", 4096)))
	resp, err := http.Post(ts.srv.URL+"/webhooks/livechat", "application/json", body)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Empty(t, ts.pub.published())
}

func TestLiveChatWebhookNoSecretsConfigured(t *testing.T) {
	ts := newTestServer(t, nil, 1<<20)
	resp := ts.post(t, samples.LiveChat("chat_deactivated", "", "C", "T"))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an empty secret must never match an empty configuration")
	assert.Empty(t, ts.pub.published())
}

func TestLiveChatWebhookIDs(t *testing.T) {
	tests := []struct {
		action     string
		wantChat   string
		wantThread string
	}{
		{"incoming_chat", "CHATX", "THREADX"},
		{"chat_deactivated", "CHATX", "THREADX"},
		{"chat_properties_updated", "CHATX", ""},
		{"chat_access_updated", "CHATX", ""},
		{"customer_session_fields_updated", "CHATX", "THREADX"},
		{"chat_transferred", "CHATX", "THREADX"},
		{"incoming_event", "CHATX", "THREADX"},
		{"thread_tagged", "CHATX", "THREADX"},
		{"routing_status_set", "", ""},
		{"unknown_action", "CHATX", ""},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			ts := newTestServer(t, []string{"s3cret"}, 1<<20)
			resp := ts.post(t, samples.LiveChat(tt.action, "s3cret", "CHATX", "THREADX"))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			evs := ts.pub.published()
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Equal(t, tt.wantChat, ev.ChatID)
			assert.Equal(t, tt.wantThread, ev.ThreadID)
			assert.Equal(t, event.LiveChat, ev.Platform)
			assert.Equal(t, "390e44e6-f1e6-0368c-z6ddb-74g14508c2ex", ev.Tenant)
			assert.Equal(t, event.SourceWebhook, ev.Source)
			assert.NotEmpty(t, ev.ID)
			assert.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), ev.ReceivedAt)
		})
	}
}

func TestLiveChatWebhookSecretsNeverStoredOrLogged(t *testing.T) {
	const secret = "very-secret-value-1234"
	ts := newTestServer(t, []string{secret}, 1<<20)
	for _, action := range samples.LiveChatActions() {
		resp := ts.post(t, samples.LiveChat(action, secret, "C1", "T1"))
		require.Equal(t, http.StatusOK, resp.StatusCode, action)
	}
	// A rejected one too: its (wrong) secret must not be logged either.
	ts.post(t, samples.LiveChat("chat_deactivated", secret+"-wrong", "C1", "T1"))

	evs := ts.pub.published()
	require.Len(t, evs, len(samples.LiveChatActions()))
	for _, ev := range evs {
		data, err := ev.Marshal()
		require.NoError(t, err)
		assert.NotContains(t, string(data), secret, "stored event of %s", ev.Action)
		assert.NotContains(t, string(data), "secret_key", "stored event of %s", ev.Action)
	}
	for _, entry := range ts.logs.All() {
		line, _ := json.Marshal(entry.ContextMap())
		assert.NotContains(t, entry.Message+string(line), secret)
	}
}

func TestLiveChatWebhookDedupID(t *testing.T) {
	ts := newTestServer(t, []string{"s3cret"}, 1<<20)
	base := samples.LiveChat("chat_deactivated", "s3cret", "C1", "T1")
	otherRegistration := bytes.Replace(base, []byte(`"webhook_id": "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"`), []byte(`"webhook_id": "another-registration"`), 1)
	require.NotEqual(t, base, otherRegistration)
	for _, b := range [][]byte{base, base, otherRegistration, samples.LiveChat("chat_deactivated", "s3cret", "C1", "T2")} {
		require.Equal(t, http.StatusOK, ts.post(t, b).StatusCode)
	}
	evs := ts.pub.published()
	require.Len(t, evs, 4)
	assert.Equal(t, evs[0].ID, evs[1].ID, "a retry of the same delivery")
	assert.Equal(t, evs[0].ID, evs[2].ID, "the same event through another registration")
	assert.NotEqual(t, evs[0].ID, evs[3].ID, "another thread is another event")
}

func TestLiveChatWebhookAdditionalData(t *testing.T) {
	ts := newTestServer(t, []string{"s3cret"}, 1<<20)
	require.Equal(t, http.StatusOK, ts.post(t, samples.LiveChat("chat_properties_updated", "s3cret", "C1", "T1")).StatusCode)
	require.Equal(t, http.StatusOK, ts.post(t, samples.LiveChat("chat_deactivated", "s3cret", "C1", "T1")).StatusCode)
	evs := ts.pub.published()
	require.Len(t, evs, 2)
	assert.JSONEq(t, `{"chat_properties": {"routing": {"continuous": true, "email_follow_up": true, "pinned": false}}}`, string(evs[0].AdditionalData))
	assert.Nil(t, evs[1].AdditionalData, "an empty additional_data is not stored")
}

func TestProbes(t *testing.T) {
	var readyErr error
	var mu sync.Mutex
	e := New(Deps{
		Metrics: metrics.New(),
		Ready: readyFunc(func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return readyErr
		}),
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	assert.Equal(t, 200, code)
	code, _ = get("/readyz")
	assert.Equal(t, 200, code)
	mu.Lock()
	readyErr = errors.New("NATS connection is RECONNECTING")
	mu.Unlock()
	code, body := get("/readyz")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "RECONNECTING")
	code, _ = get("/metrics")
	assert.Equal(t, http.StatusNotFound, code, "metrics are on the admin listener")
	admin := httptest.NewServer(NewAdmin(Deps{Metrics: metrics.New(), MetricsPublic: true}))
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), "go_goroutines")

	resp, err = http.Post(srv.URL+"/webhooks/livechat", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the work role has no webhook routes")
}

// blockingPublisher holds every publish until released.
type blockingPublisher struct {
	release chan struct{}
	started chan struct{}
}

func (p *blockingPublisher) Publish(ctx context.Context, ev *event.Event) (bool, error) {
	p.started <- struct{}{}
	select {
	case <-p.release:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func TestOverloadIsShedAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name              string
		maxInflight       int
		maxInflightBytesN int64 // in bodies
	}{
		{"bounded by bytes", 100, 2},
		{"bounded by requests", 2, 100},
	} {
		t.Run(tt.name, func(t *testing.T) { testOverload(t, tt.maxInflight, tt.maxInflightBytesN) })
	}
}

func testOverload(t *testing.T, maxInflight int, bodies int64) {
	body := samples.LiveChat("incoming_chat", "s3cret", "C1", "T1")
	pub := &blockingPublisher{release: make(chan struct{}), started: make(chan struct{}, 10)}
	m := metrics.New()
	e := New(Deps{
		Logger: zap.NewNop(), Metrics: m, Publisher: pub, Receive: true,
		Ready:     readyFunc(func(context.Context) error { return nil }),
		Receivers: receivers([]string{"s3cret"}, "", ""), MaxBodyBytes: int64(len(body)) + 100,
		MaxInflightBytes: bodies*int64(len(body)) + 150, // room for two requests, not three
		MaxInflight:      maxInflight,
		PublishTimeout:   10 * time.Second,
		// Every request comes from 127.0.0.1: the address's own share of
		// the bytes (TestInflightBytesPerClientAddress) must not be what
		// sheds here.
		MaxInflightBytesPerIP: 1 << 30,
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	results := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			resp, err := http.Post(srv.URL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	<-pub.started
	<-pub.started // two requests hold their bytes

	start := time.Now()
	resp, err := http.Post(srv.URL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	shedAnswer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	assert.JSONEq(t, `{"error":"overloaded; retry later"}`, string(shedAnswer))
	assert.Less(t, time.Since(start), time.Second, "shed at once, not queued")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonOverloaded)))

	close(pub.release)
	assert.Equal(t, http.StatusOK, <-results)
	assert.Equal(t, http.StatusOK, <-results)
	resp, err = http.Post(srv.URL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "capacity is released")
}

// memoryFlag is a MemoryGuard the test switches.
type memoryFlag struct{ over atomic.Bool }

func (f *memoryFlag) Over() bool { return f.over.Load() }

// TestOverMemoryBudgetIsShed: while the process is over http.max_memory_bytes
// every webhook, of each platform, is answered 503 with Retry-After before
// anything is stored, counted under reason over_memory; once it is back
// under, webhooks are stored again.
func TestOverMemoryBudgetIsShed(t *testing.T) {
	body := samples.LiveChat("incoming_chat", "s3cret", "C1", "T1")
	pub := &fakePublisher{}
	m := metrics.New()
	mem := &memoryFlag{}
	srv := httptest.NewServer(New(Deps{
		Logger: zap.NewNop(), Metrics: m, Publisher: pub, Receive: true,
		Ready:     readyFunc(func(context.Context) error { return nil }),
		Receivers: receivers([]string{"s3cret"}, "k", "tok"),
		Memory:    mem,
	}))
	defer srv.Close()
	post := func(path string, body []byte) (int, string, string) {
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}

	mem.over.Store(true)
	for _, path := range []string{"/webhooks/livechat", "/webhooks/helpcrunch", "/webhooks/rocketchat"} {
		code, retryAfter, answer := post(path, body)
		assert.Equal(t, http.StatusServiceUnavailable, code, path)
		assert.Equal(t, retryAfterSeconds, retryAfter, path)
		assert.JSONEq(t, `{"error":"overloaded; retry later"}`, answer, path)
	}
	assert.Empty(t, pub.published(), "nothing stored while over")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonOverMemory)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("helpcrunch", reasonOverMemory)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("rocketchat", reasonOverMemory)))
	assert.Zero(t, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonOverloaded)))

	mem.over.Store(false)
	code, _, _ := post("/webhooks/livechat", body)
	assert.Equal(t, http.StatusOK, code)
	assert.Len(t, pub.published(), 1)
}
