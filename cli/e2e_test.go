package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running
// service and the reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runServe starts `chatwarden serve --config <file>` through run, and
// returns the HTTP base URL and the embedded server's NATS URL. The service
// is stopped (as by SIGTERM) at the end of the test, and must exit cleanly.
func runServe(t *testing.T, configYAML string, env map[string]string) (httpURL, natsURL string, stderr *syncBuffer) {
	t.Helper()
	s := serveCLI(t, configYAML, env)
	return s.HTTP, s.NATS, s.Stderr
}

// runServeConfig is runServe that also returns the configuration file's path.
func runServeConfig(t *testing.T, configYAML string, env map[string]string) (httpURL, natsURL, path string, stderr *syncBuffer) {
	t.Helper()
	s := serveCLI(t, configYAML, env)
	return s.HTTP, s.NATS, s.Config, s.Stderr
}

// served is a `chatwarden serve` started by serveCLI.
type served struct {
	HTTP, Admin string // base URLs of the public and admin listeners
	NATS        string // the embedded server's client URL
	Config      string // the configuration file's path
	Stderr      *syncBuffer
}

// serveCLI starts `chatwarden serve` with configYAML after the listeners'
// settings (free loopback ports; metrics public on the admin listener).
func serveCLI(t *testing.T, configYAML string, env map[string]string) served {
	t.Helper()
	httpPort, natsPort, adminPort := bustest.FreePort(t), bustest.FreePort(t), bustest.FreePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "chatwarden.yaml")
	cfg := fmt.Sprintf("http: {addr: \"127.0.0.1:%d\"}\nadmin: {addr: \"127.0.0.1:%d\", metrics_public: true}\nnats: {listen: \"127.0.0.1:%d\", data_dir: %q}\n%s",
		httpPort, adminPort, natsPort, filepath.Join(dir, "data"), configYAML)
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--config", path}, func(k string) string { return env[k] }, io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "serve must shut down cleanly; log:\n%s", stderr)
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s of cancellation")
		}
	})
	httpURL := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	require.Eventually(t, func() bool {
		resp, err := http.Get(httpURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "serve did not become ready; log:\n%s", stderr)
	// The embedded server takes only clients with the credentials serve
	// keeps in its data directory; the URL carries them, as an operator
	// would give them to the nats CLI.
	creds, err := bus.ReadCredentials(filepath.Join(dir, "data"))
	require.NoError(t, err)
	natsURL := (&url.URL{Scheme: "nats", User: url.UserPassword(creds.User, creds.Password), Host: fmt.Sprintf("127.0.0.1:%d", natsPort)}).String()
	return served{HTTP: httpURL, Admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		NATS: natsURL, Config: path, Stderr: stderr}
}

func TestEndToEndUnpinsAbandonedUnassignedChatOnce(t *testing.T) {
	fake := livechattest.New(livechattest.WithAuth("acc-1", "pat-1"))
	apiURL, stop := fake.Start()
	defer stop()
	fake.AddChat(deactivatedChat(livechattest.UnassignedChat("PINNED1", time.Now().Add(-72*time.Hour))))
	assigned := deactivatedChat(livechattest.UnassignedChat("ASSIGNED1", time.Now().Add(-72*time.Hour)))
	assigned.Thread.Properties["routing"]["unassigned"] = false
	assigned.Properties["routing"]["pinned"] = false
	fake.AddChat(assigned)

	env := map[string]string{"LC_SECRET": "whsec-e2e", "LC_PAT": "pat-1"}
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(`
rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`), 0o600))
	srv := serveCLI(t, fmt.Sprintf(`
rules_file: %s
livechat:
  api_url: %s
  webhook_secrets: ["${LC_SECRET}"]
  pat: {account_id: acc-1, token: "${LC_PAT}"}
workers: {backoff_base: 20ms, backoff_max: 200ms}
log: {level: debug}
`, rulesFile, apiURL), env)
	baseURL, natsURL, stderr := srv.HTTP, srv.NATS, srv.Stderr

	postHook := func(body []byte) int {
		resp, err := http.Post(baseURL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			assert.Empty(t, b)
		}
		return resp.StatusCode
	}
	pinned := samples.LiveChat("chat_deactivated", "whsec-e2e", "PINNED1", "T-PINNED1")
	require.Equal(t, 200, postHook(pinned))
	require.Equal(t, 200, postHook(pinned), "the same webhook again (a LiveChat retry)")
	require.Equal(t, 200, postHook(samples.LiveChat("chat_deactivated", "whsec-e2e", "ASSIGNED1", "T-ASSIGNED1")))
	require.Equal(t, 200, postHook(samples.LiveChat("incoming_chat", "whsec-e2e", "OTHER", "T-OTHER")))
	require.Equal(t, 401, postHook(samples.LiveChat("chat_deactivated", "wrong", "PINNED1", "T-PINNED1")))

	// Inspect the streams through the embedded server's listener, as an
	// operator with the nats CLI would.
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()

	require.Eventually(t, func() bool {
		recs, err := audit.Read(ctx, js, audit.Query{})
		return err == nil && len(recs) == 2
	}, 20*time.Second, 20*time.Millisecond, "log:\n%s", stderr)
	require.Eventually(t, func() bool {
		idle, err := bus.WorkersIdle(ctx, js, 16)
		return err == nil && idle
	}, 20*time.Second, 20*time.Millisecond)

	updates := fake.CallsTo("update_chat_properties")
	require.Len(t, updates, 1, "exactly one unpin, for the pinned unassigned chat, despite the duplicate webhook")
	assert.JSONEq(t, `{"id":"PINNED1","properties":{"routing":{"pinned":false}}}`, string(updates[0].Body))
	c, _ := fake.Chat("PINNED1")
	assert.False(t, c.Pinned())

	recs, err := audit.Read(ctx, js, audit.Query{})
	require.NoError(t, err)
	byChat := map[string]audit.Record{}
	for _, r := range recs {
		byChat[r.ChatID] = r
	}
	assert.Equal(t, audit.Acted, byChat["PINNED1"].Outcome)
	assert.Equal(t, audit.Skipped, byChat["ASSIGNED1"].Outcome)

	st, err := js.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), st.CachedInfo().State.Msgs, "the duplicate collapsed; the unrelated event is stored")

	// Secrets reach neither the stream nor the log.
	err = bus.ReadAll(ctx, js, bus.EventsStream, jetstream.OrderedConsumerConfig{}, func(m jetstream.Msg) error {
		data, err := event.JSON(m.Data()) // stored compressed
		require.NoError(t, err)
		assert.Contains(t, string(data), `"payload"`, "the stored event is readable")
		assert.NotContains(t, string(data), "whsec-e2e")
		assert.NotContains(t, string(data), "secret_key")
		return nil
	})
	require.NoError(t, err)
	assert.NotContains(t, stderr.String(), "whsec-e2e")
	assert.NotContains(t, stderr.String(), "pat-1")

	// Prometheus metrics reflect what happened.
	resp, err := http.Get(srv.Admin + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`chatwarden_webhooks_received_total{action="chat_deactivated",platform="livechat"} 3`,
		`chatwarden_webhooks_duplicate_total{platform="livechat"} 1`,
		`chatwarden_webhooks_rejected_total{platform="livechat",reason="unauthorized"} 1`,
		`chatwarden_actions_total{operation="livechat.unpin",outcome="acted",platform="livechat"} 1`,
		`chatwarden_actions_total{operation="rule",outcome="skipped",platform="livechat"} 1`,
		`chatwarden_publish_duration_seconds_count{platform="livechat"} 4`,
	} {
		assert.Contains(t, string(m), want)
	}
}

// deactivatedChat makes the chat's thread inactive, as after chat_deactivated.
func deactivatedChat(c livechat.Chat) livechat.Chat {
	c.Thread.Active = false
	return c
}

func TestServeWithoutConfigurationStartsAndSaysWhatIsMissing(t *testing.T) {
	baseURL, _, stderr := runServe(t, "", nil)
	resp, err := http.Get(baseURL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	log := stderr.String()
	assert.Contains(t, log, "livechat.webhook_secrets")
	assert.Contains(t, log, "livechat.pat")
	// And it rejects webhooks rather than accepting them unauthenticated.
	resp, err = http.Post(baseURL+"/webhooks/livechat", "application/json",
		strings.NewReader(string(samples.LiveChat("chat_deactivated", "", "C", "T"))))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(l), &v) == nil {
			lines++
		}
	}
	assert.Positive(t, lines, "the log is JSON by default")
}
