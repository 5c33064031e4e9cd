package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const (
	secret     = "console-webhook-secret"
	adminToken = "console-admin-token-0123"
)

// scenarioRules act, skip, dry-run and fail, so every kind of decision
// shows up in the console.
const scenarioRules = `
rules:
  - name: unpin-abandoned-unassigned
    description: Unpin chats deactivated while still pinned and unassigned.
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
  - name: tag-transfers
    description: Tag transferred threads for the weekly review.
    on: [livechat.chat_transferred]
    then:
      - livechat.tag_thread: {tag: transferred}
  - name: note-pricing-visitors
    description: Leave agents a note on chats that start on a pricing page.
    on: [livechat.incoming_chat]
    if: (chat.thread_properties.routing?.start_url ?? "") contains "/pricing"
    then:
      - livechat.send_event: {text: "Came from the pricing page", visibility: agents}
    dry_run: true
`

// Chats of the scenario.
const (
	chatUnpinned = "PJ0MRSHTDG" // deactivated while pinned and unassigned: unpinned
	chatAssigned = "K3ASSIGNED" // deactivated but assigned: skipped
	chatTransfer = "QX7TRANSFR" // transferred: tagged
	chatPricing  = "HB4PRICING" // incoming from the pricing page: dry run
	chatMissing  = "ZZ9MISSING" // unknown to LiveChat: dead letter
)

// scenario is the whole service (receiver and workers, embedded NATS) in
// front of the fake LiveChat.
type scenario struct {
	svc   *service.Service
	fake  *livechattest.Server
	base  string // the public listener, http://host:port
	admin string // the admin listener, http://host:port
}

func startScenario(t *testing.T) *scenario {
	t.Helper()
	fake := livechattest.New()
	apiURL, stop := fake.Start()
	t.Cleanup(stop)
	created := time.Now().Add(-time.Hour)
	for _, id := range []string{chatUnpinned, chatAssigned, chatTransfer, chatPricing} {
		c := livechattest.UnassignedChat(id, created)
		if id == chatAssigned {
			c.Thread.Properties["routing"]["unassigned"] = false
		}
		fake.AddChat(c)
	}

	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(scenarioRules), 0o600))
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Admin.Token = adminToken
	cfg.Admin.MetricsPublic = true
	cfg.NATS.DataDir = filepath.Join(dir, "data")
	cfg.NATS.Listen = "off"
	cfg.NATS.Partitions = 4
	cfg.LiveChat.APIURL = apiURL
	cfg.LiveChat.WebhookSecrets = []string{secret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.LiveChat.RequestTimeout = 2 * time.Second
	cfg.Workers.Concurrency = 4
	cfg.Workers.BackoffBase = 20 * time.Millisecond
	cfg.Workers.BackoffMax = 200 * time.Millisecond
	cfg.RulesFile = rulesFile
	require.NoError(t, cfg.Validate())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, svc.Stop(ctx))
	})
	return &scenario{svc: svc, fake: fake, base: "http://" + svc.Addr(), admin: "http://" + svc.AdminAddr()}
}

// post sends a LiveChat webhook; the receiver must store it.
func (s *scenario) post(t *testing.T, action, chat string) {
	t.Helper()
	body := samples.LiveChat(action, secret, chat, "T"+chat)
	resp, err := http.Post(s.base+"/webhooks/livechat", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// postAll sends one webhook per chat of the scenario, in a fixed order, and
// waits until the workers are done with them.
func (s *scenario) postAll(t *testing.T) {
	t.Helper()
	s.post(t, "incoming_chat", chatPricing)
	s.post(t, "chat_transferred", chatTransfer)
	s.post(t, "chat_deactivated", chatAssigned)
	s.post(t, "chat_deactivated", chatMissing)
	s.post(t, "chat_deactivated", chatUnpinned)
	s.waitIdle(t)
}

func (s *scenario) waitIdle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		idle, err := bus.WorkersIdle(ctx, s.svc.Bus().JS, s.svc.Bus().Partitions())
		return err == nil && idle
	}, 30*time.Second, 20*time.Millisecond)
}

// helper marks the caller as a test helper when t is a *testing.T; api and
// scrape also take the *assert.CollectT of an EventuallyWithT condition, so
// that a transient error is retried rather than fatal.
func helper(t require.TestingT) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// api calls an admin route with the token and decodes its JSON answer.
func (s *scenario) api(t require.TestingT, method, path string, v any) int {
	helper(t)
	req, err := http.NewRequest(method, s.admin+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil {
		require.NoError(t, json.Unmarshal(data, v), "%s %s answered %s", method, path, data)
	}
	return resp.StatusCode
}

// scrape returns the service's /metrics text.
func (s *scenario) scrape(t require.TestingT) string {
	helper(t)
	resp, err := http.Get(s.admin + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(data)
}

// hasSeries reports whether the exposition text has a sample of name whose
// labels include every one of labels (`key="value"`).
func hasSeries(text, name string, labels ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(rest, l)
		}
		if all {
			return true
		}
	}
	return false
}

func unassigned(id string) livechat.Chat {
	return livechattest.UnassignedChat(id, time.Now().Add(-time.Hour))
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
