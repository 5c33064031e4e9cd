package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
	"github.com/chatwarden/chatwarden/service"
)

// fuzzRules make every event of every platform reach the rules: each
// platform's events are audited by a dry-run rule (the audit subject holds
// the chat id), LiveChat's chat_deactivated fetches the chat and unpins it
// (the sentinel), and incoming_chat schedules a delayed re-check (the
// schedule subject holds chat id and rule).
const fuzzRules = unpinRule + `
  - name: recheck-later
    on: [livechat.incoming_chat]
    if: event.chat_id != ""
    after: 1h
    then:
      - livechat.unpin: {}
  - name: audit-livechat
    on: [livechat.*]
    if: "true"
    dry_run: true
    then:
      - livechat.unpin: {}
  - name: audit-helpcrunch
    on: [helpcrunch.*]
    if: "true"
    dry_run: true
    then:
      - helpcrunch.assign: {agent_id: 42}
  - name: audit-rocketchat
    on: [rocketchat.*]
    if: "true"
    dry_run: true
    then:
      - rocketchat.close_room: {comment: "fuzz"}
`

// fuzzPipeline is one serve (receiver and workers on an embedded broker,
// fakes of the three platforms) shared by every input of a fuzz run.
type fuzzPipeline struct {
	svc      *service.Service
	lc       *livechattest.Server
	sentinel atomic.Int64
	delivery atomic.Int64
}

func startFuzzPipeline(tb testing.TB) *fuzzPipeline {
	tb.Helper()
	p := &fuzzPipeline{lc: livechattest.New()}
	lcURL, stopLC := p.lc.Start()
	tb.Cleanup(stopLC)
	hc := helpcrunchtest.New(helpcrunchtest.WithAPIKey("hc-api-key"))
	hcURL, stopHC := hc.Start()
	tb.Cleanup(stopHC)
	rc := rocketchattest.New()
	rcURL, stopRC := rc.Start()
	tb.Cleanup(stopRC)

	rulesFile := filepath.Join(tb.TempDir(), "rules.yaml")
	require.NoError(tb, os.WriteFile(rulesFile, []byte(fuzzRules), 0o600))
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "off"
	cfg.HTTP.PublishTimeout = 2 * time.Second
	cfg.NATS.DataDir = tb.TempDir()
	cfg.NATS.Listen = "off"
	cfg.LiveChat.APIURL = lcURL
	cfg.LiveChat.WebhookSecrets = []string{secret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.LiveChat.RequestTimeout = time.Second
	cfg.HelpCrunch.APIURL, cfg.HelpCrunch.APIKey, cfg.HelpCrunch.SigningKey = hcURL, "hc-api-key", hcKey
	cfg.RocketChat = config.RocketChat{URL: rcURL, UserID: "bot-id", AuthToken: "rc-auth", WebhookToken: rcToken}
	cfg.Workers.Concurrency = 8
	cfg.Workers.MaxAttempts = 2
	cfg.Workers.AckWait = 2 * time.Second
	cfg.Workers.BackoffBase = 10 * time.Millisecond
	cfg.Workers.BackoffMax = 50 * time.Millisecond
	cfg.RulesFile = rulesFile
	require.NoError(tb, cfg.Validate())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg, both, service.WithLogger(zap.NewNop()))
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	p.svc = svc
	return p
}

// fuzzClient bounds every request, so that a hung receiver fails the input
// instead of stalling the run.
var fuzzClient = &http.Client{Timeout: 15 * time.Second}

// nest wraps v in depth levels of objects and arrays.
func nest(v any, depth int) any {
	for i := 0; i < depth; i++ {
		if i%2 == 0 {
			v = map[string]any{"n": v}
		} else {
			v = []any{v, i}
		}
	}
	return v
}

// webhook builds a delivery of platform (0 LiveChat, 1 HelpCrunch, 2
// Rocket.Chat) with the given action, chat and tenant, signed or
// authenticated as its platform expects; path is "" for other platforms.
func (p *fuzzPipeline) webhook(platform uint8, action, chatID, tenant string, depth int) (path string, body []byte, header map[string]string) {
	n := nest(chatID, depth)
	var v any
	switch platform % 4 {
	case 0:
		path = "/webhooks/livechat"
		v = map[string]any{"webhook_id": "w-fuzz", "secret_key": secret, "action": action, "organization_id": tenant,
			"payload":         map[string]any{"chat_id": chatID, "thread_id": "T", "chat": map[string]any{"id": chatID, "thread": map[string]any{"id": "T"}}, "n": n},
			"additional_data": map[string]any{"n": n}}
	case 1:
		path = "/webhooks/helpcrunch"
		now := time.Now().Unix()
		v = map[string]any{"event": action, "eventData": map[string]any{"chat_id": chatID, "id": chatID, "n": n},
			"attempts": 0, "lastAttemptAt": now, "createdAt": now, "id": fmt.Sprintf("fuzz-%d", p.delivery.Add(1))}
	case 2:
		path = "/webhooks/rocketchat"
		v = map[string]any{"type": action, "_id": chatID, "n": n, "visitor": map[string]any{"token": "t", "_id": tenant}}
	default:
		return "", nil, nil
	}
	body, _ = json.Marshal(v)
	switch platform % 4 {
	case 1:
		header = map[string]string{helpcrunch.SignatureHeader: helpcrunch.Sign(body, hcKey)}
	case 2:
		header = map[string]string{rocketchat.TokenHeader: rcToken}
	}
	return path, body, header
}

// inject stores an event straight into the events stream, as a replay, an
// older version or a forged publish would: no receiver bound applies. The
// subject is a valid one of the event's partition.
func (p *fuzzPipeline) inject(t *testing.T, platform uint8, action, chatID, tenant string, depth int) {
	t.Helper()
	name := []string{event.LiveChat, event.HelpCrunch, event.RocketChat, tenant}[platform%4]
	payload, _ := json.Marshal(map[string]any{"chat_id": chatID, "chat": map[string]any{"id": chatID}, "n": nest(chatID, depth)})
	ev := &event.Event{ID: fmt.Sprintf("inject-%d", p.delivery.Add(1)), Platform: name, Action: action, Tenant: tenant, ChatID: chatID,
		ThreadID: chatID, Source: event.SourceReplay, ReceivedAt: time.Now(), Payload: payload}
	data, err := ev.Encode()
	require.NoError(t, err)
	if depth%5 == 4 {
		data = []byte(action) // not an event at all
	}
	subject := fmt.Sprintf("%s.injected.fuzz.%d", event.SubjectPrefix, event.Partition(name, chatID, p.svc.Bus().Partitions()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = p.svc.Bus().JS.Publish(ctx, subject, data)
	require.NoError(t, err, "storing the injected event")
}

// requireHealthy fails unless the service is ready, its broker connection
// never dropped, and the workers still process a genuine webhook.
func (p *fuzzPipeline) requireHealthy(t *testing.T) {
	t.Helper()
	nc := p.svc.Bus().Conn
	require.Equal(t, nats.CONNECTED, nc.Status(), "broker connection")
	require.Zero(t, nc.Stats().Reconnects, "the broker never dropped the connection")
	resp, err := fuzzClient.Get("http://" + p.svc.Addr() + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/readyz")

	chat := fmt.Sprintf("SENTINEL%d", p.sentinel.Add(1))
	p.lc.AddChat(livechattest.UnassignedChat(chat, time.Now().Add(-time.Hour)))
	resp, err = fuzzClient.Post("http://"+p.svc.Addr()+"/webhooks/livechat", "application/json", bytes.NewReader(deactivated(chat)))
	require.NoError(t, err, "posting a genuine webhook")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a genuine webhook is stored")
	require.Eventually(t, func() bool { return unpinCalls(p.lc, chat) == 1 }, 20*time.Second, 10*time.Millisecond,
		"the workers still process a genuine event after the fuzzed ones")
}

// FuzzPipeline drives random webhooks of the three platforms (random
// action or type, ids of random length and bytes, random nesting) through
// the receiver and, stored straight into the stream, through the workers,
// against one real embedded broker per run. After each input the service
// must still be ready, its broker connection never dropped, and a genuine
// webhook must still be processed.
func FuzzPipeline(f *testing.F) {
	long5000, long4100 := strings.Repeat("a", 5000), strings.Repeat("C", 4100)
	seeds := []struct {
		platform     uint8
		action, chat string
		tenant       string
		depth        uint8
		inject       bool
	}{
		// The crashers: a 5,000-character action (the event
		// subject) and a 4,100-character chat id (the audit subject).
		{0, long5000, "C1", "org", 0, false},
		{0, "chat_deactivated", long4100, "org", 0, false},
		{0, "incoming_chat", long4100, "org", 0, false},
		{0, long5000, long4100, "org", 1, true},
		{1, long5000, "7001", "", 0, false},
		{1, "chat.new", long4100, "", 0, true},
		{2, long5000, "room1", "v", 0, false},
		{2, "LivechatSessionQueued", long4100, "v", 0, true},
		{3, "chat_deactivated", long4100, "teams.*>", 0, true},
		// Lookalike ids, wildcards, unicode, control bytes, empty.
		{0, "chat_deactivated", "a.b", "org", 0, false},
		{0, "chat_deactivated", "a b*>", "org.x", 2, true},
		{0, "a.b.>", "ü\x00\r\n", "", 3, true},
		{1, "chat.*", "", "", 4, true},
		{2, "", "_", "", 9, true},
		{0, "incoming_chat", "C2", "org", 200, false},
	}
	for _, s := range seeds {
		f.Add(s.platform, s.action, s.chat, s.tenant, s.depth, s.inject)
	}
	p := startFuzzPipeline(f)
	f.Fuzz(func(t *testing.T, platform uint8, action, chatID, tenant string, depth uint8, inject bool) {
		if path, body, header := p.webhook(platform, action, chatID, tenant, int(depth)); path != "" {
			req, err := http.NewRequest(http.MethodPost, "http://"+p.svc.Addr()+path, bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := fuzzClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Less(t, resp.StatusCode, 500, "the receiver answers a fuzzed webhook without a server error")
		}
		if inject {
			p.inject(t, platform, action, chatID, tenant, int(depth))
		}
		p.requireHealthy(t)
	})
}
