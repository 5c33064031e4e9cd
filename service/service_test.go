package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const secret = "s3cret"

var both = service.Roles{Receive: true, Work: true}

// testAdminToken is the admin token of testConfig.
const testAdminToken = "service-test-admin-token-0123"

// testConfig is a configuration for fast tests: embedded NATS (or natsURL),
// short timeouts and backoffs, the fake LiveChat at apiURL.
func testConfig(t *testing.T, apiURL, natsURL string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Admin.Token = testAdminToken
	cfg.HTTP.PublishTimeout = time.Second
	cfg.NATS.URL = natsURL
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = "off"
	cfg.LiveChat.APIURL = apiURL
	cfg.LiveChat.WebhookSecrets = []string{secret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.LiveChat.RequestTimeout = 300 * time.Millisecond
	cfg.Workers.Concurrency = 4
	cfg.Workers.MaxAttempts = 4
	cfg.Workers.AckWait = 2 * time.Second
	cfg.Workers.BackoffBase = 20 * time.Millisecond
	cfg.Workers.BackoffMax = 200 * time.Millisecond
	cfg.RulesFile = writeRules(t, unpinRule)
	require.NoError(t, cfg.Validate())
	cfg.Workers.FailoverAfter = 2 * time.Second // below the validated minimum, to keep failover tests short
	return cfg
}

// unpinRule is the first policy as a rule.
const unpinRule = `
rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`

func writeRules(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

func startFake(t *testing.T) (*livechattest.Server, string) {
	t.Helper()
	fake := livechattest.New()
	url, stop := fake.Start()
	t.Cleanup(stop)
	return fake, url
}

func start(t *testing.T, cfg *config.Config, roles service.Roles) *service.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg, roles, service.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	return svc
}

// helper marks the caller as a test helper when t is a *testing.T; the
// helpers below also take the *assert.CollectT of an EventuallyWithT
// condition, so that a transient error is retried rather than fatal.
func helper(t require.TestingT) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

func post(t require.TestingT, svc *service.Service, body []byte) *http.Response {
	helper(t)
	resp, err := http.Post("http://"+svc.Addr()+"/webhooks/livechat", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func deactivated(chat string) []byte {
	return samples.LiveChat("chat_deactivated", secret, chat, "T-"+chat)
}

// waitIdle waits until the workers have finished with every stored event.
func waitIdle(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	require.Eventually(t, func() bool {
		idle, err := bus.WorkersIdle(context.Background(), js, 16)
		return err == nil && idle
	}, 20*time.Second, 20*time.Millisecond)
}

func deadLetters(t require.TestingT, js jetstream.JetStream) []consumer.DeadLetter {
	helper(t)
	dls, err := consumer.ReadDeadLetters(context.Background(), js)
	require.NoError(t, err)
	return dls
}

func auditOf(t require.TestingT, js jetstream.JetStream, chat string) []audit.Record {
	helper(t)
	recs, err := audit.Read(context.Background(), js, audit.Query{ChatID: chat})
	require.NoError(t, err)
	return recs
}

func unpinCalls(fake *livechattest.Server, chat string) int {
	n := 0
	for _, c := range fake.CallsTo("update_chat_properties") {
		var body struct {
			ID         string                    `json:"id"`
			Properties map[string]map[string]any `json:"properties"`
		}
		if json.Unmarshal(c.Body, &body) == nil && body.ID == chat && body.Properties["routing"]["pinned"] == false && c.Status == 200 {
			n++
		}
	}
	return n
}

func TestRetryableFailuresThenSuccess(t *testing.T) {
	tests := []struct {
		name    string
		action  string
		failure livechattest.Failure
		times   int
	}{
		{"429 on get_chat with a hint", "get_chat", livechattest.TooManyRequests(time.Second), 1},
		{"500 on get_chat", "get_chat", livechattest.ServerError(), 2},
		{"503 on update", "update_chat_properties", livechattest.ServiceUnavailable(), 1},
		{"hang past the client timeout", "update_chat_properties", livechattest.Hang(3 * time.Second), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := startFake(t)
			fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
			fake.FailNext(tt.action, tt.times, tt.failure)
			svc := start(t, testConfig(t, url, ""), both)
			require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)

			require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
			waitIdle(t, svc.Bus().JS)
			assert.Equal(t, 1, unpinCalls(fake, "C1"))
			assert.GreaterOrEqual(t, testutil.ToFloat64(svc.Metrics().Retries.WithLabelValues(event.LiveChat)), float64(tt.times))
			assert.Empty(t, deadLetters(t, svc.Bus().JS))
			c, _ := fake.Chat("C1")
			assert.False(t, c.Pinned())
			recs := auditOf(t, svc.Bus().JS, "C1")
			require.NotEmpty(t, recs)
			assert.Equal(t, audit.Acted, recs[len(recs)-1].Outcome)
			assert.Equal(t, audit.Failed, recs[0].Outcome, "failed attempts are audited too")
		})
	}
}

func TestHonoursRetryAfterHint(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("get_chat", 1, livechattest.TooManyRequests(2*time.Second))
	svc := start(t, testConfig(t, url, ""), both) // backoff_max is 200ms: only the hint explains a 2s wait
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
	calls := fake.CallsTo("get_chat")
	require.Len(t, calls, 2)
	assert.GreaterOrEqual(t, calls[1].Time.Sub(calls[0].Time), 2*time.Second)
}

func TestPermanentFailureDeadLettersAtOnce(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("update_chat_properties", 1, livechattest.Validation("properties.routing.pinned: wrong type"))
	svc := start(t, testConfig(t, url, ""), both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)

	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, deadLetters(c, svc.Bus().JS), 1) }, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, svc.Bus().JS)
	dl := deadLetters(t, svc.Bus().JS)[0]
	assert.Equal(t, consumer.ReasonPermanent, dl.Reason)
	assert.Equal(t, "validation", dl.Cause)
	assert.Equal(t, uint64(1), dl.Attempts, "no retry for a validation error")
	assert.Equal(t, "C1", dl.ChatID)
	assert.Equal(t, "unpin-abandoned-unassigned", dl.Rule)
	assert.Equal(t, "livechat.unpin", dl.Operation)
	assert.Contains(t, dl.Error, "wrong type")
	ev, err := event.Unmarshal(dl.Event)
	require.NoError(t, err)
	assert.Equal(t, "chat_deactivated", ev.Action)
	assert.Len(t, fake.CallsTo("update_chat_properties"), 1)
	assert.Equal(t, 1.0, testutil.ToFloat64(svc.Metrics().DeadLetters.WithLabelValues(event.LiveChat, consumer.ReasonPermanent)))
}

func TestAttemptsExhaustedDeadLetters(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("get_chat", 100, livechattest.ServerError())
	cfg := testConfig(t, url, "")
	cfg.Workers.MaxAttempts = 3
	svc := start(t, cfg, both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)

	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, deadLetters(c, svc.Bus().JS), 1) }, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, svc.Bus().JS)
	dl := deadLetters(t, svc.Bus().JS)[0]
	assert.Equal(t, consumer.ReasonExhausted, dl.Reason)
	assert.Equal(t, uint64(3), dl.Attempts)
	assert.Len(t, fake.CallsTo("get_chat"), 3)
	assert.Empty(t, fake.CallsTo("update_chat_properties"))
}

func TestNoCredentialsDeadLettersWithAClearReason(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	cfg := testConfig(t, url, "")
	cfg.LiveChat.PAT = config.PAT{}
	svc := start(t, cfg, both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, deadLetters(c, svc.Bus().JS), 1) }, 20*time.Second, 20*time.Millisecond)
	dl := deadLetters(t, svc.Bus().JS)[0]
	assert.Equal(t, "no credentials", dl.Cause)
	assert.Contains(t, dl.Error, "livechat.pat")
	assert.Empty(t, fake.Calls())
}

func TestBrokerDownAnswers503ThenRecovers(t *testing.T) {
	_, url := startFake(t)
	nats := bustest.Start(t)
	svc := start(t, testConfig(t, url, nats.URL()), service.Roles{Receive: true})
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)

	nats.Stop()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp := post(c, svc, deactivated("C2"))
		assert.Equal(c, http.StatusServiceUnavailable, resp.StatusCode)
		assert.NotEmpty(c, resp.Header.Get("Retry-After"))
	}, 10*time.Second, 50*time.Millisecond)
	resp, err := http.Get("http://" + svc.Addr() + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	nats.Restart()
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Equal(c, http.StatusOK, post(c, svc, deactivated("C2")).StatusCode) }, 15*time.Second, 100*time.Millisecond)
	st, err := svc.Bus().JS.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs, "both accepted webhooks are stored, each once")
}

func TestWorkerKilledMidMessageIsRedeliveredAndActedOnOnce(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("get_chat", 1, livechattest.Hang(time.Minute))
	nats := bustest.Start(t)
	cfg := testConfig(t, url, nats.URL())
	cfg.LiveChat.RequestTimeout = 2 * time.Minute // the first worker is stuck until it dies

	receiver := start(t, cfg, service.Roles{Receive: true})
	ctx := context.Background()
	first, err := service.Start(ctx, cfg, service.Roles{Work: true}, service.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, post(t, receiver, deactivated("C1")).StatusCode)
	require.Eventually(t, func() bool { return len(fake.CallsTo("get_chat")) == 1 }, 10*time.Second, 10*time.Millisecond)

	// Kill the first worker mid-message: its connection drops without an
	// ack, and its in-flight call is abandoned.
	first.Bus().Conn.Close()
	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_ = first.Stop(stopCtx)
	cancel()

	second := start(t, cfg, service.Roles{Work: true})
	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, second.Bus().JS)
	assert.Equal(t, 1, unpinCalls(fake, "C1"))
	assert.Len(t, fake.CallsTo("update_chat_properties"), 1)
	assert.Empty(t, deadLetters(t, second.Bus().JS))
}

func TestDryRunRecordsWithoutCalling(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	cfg := testConfig(t, url, "")
	cfg.Workers.DryRun = true
	svc := start(t, cfg, both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, auditOf(c, svc.Bus().JS, "C1"), 1) }, 20*time.Second, 20*time.Millisecond)
	rec := auditOf(t, svc.Bus().JS, "C1")[0]
	assert.Equal(t, audit.DryRun, rec.Outcome)
	assert.Empty(t, fake.CallsTo("update_chat_properties"))
	c, _ := fake.Chat("C1")
	assert.True(t, c.Pinned())
}

// TestMemoryBudgetAppliesWhileRunning: http.max_memory_bytes sets Go's soft
// memory limit to 90% of the budget while the service runs (webhooks are
// accepted while the heap is far below it) and the previous limit is back
// once it stops.
func TestMemoryBudgetAppliesWhileRunning(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	_, apiURL := startFake(t)
	cfg := testConfig(t, apiURL, "")
	cfg.HTTP.MaxMemoryBytes = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	assert.EqualValues(t, int64(966367641), debug.SetMemoryLimit(-1), "90% of 1 GiB")
	assert.Equal(t, http.StatusOK, post(t, svc, deactivated("C-mem")).StatusCode)
	require.NoError(t, svc.Stop(ctx))
	assert.Eventually(t, func() bool { return debug.SetMemoryLimit(-1) == before }, 5*time.Second, 10*time.Millisecond)
}

// TestMemoryBudgetShedsWhileOverAndRecovers: with a 256 MiB budget (shed
// above 179 MiB of live heap), 200 MiB more held in the process makes the
// receiver answer 503 with Retry-After, counted as over_memory; once that
// memory is let go, the guard's own collection sees it and webhooks are
// stored again.
func TestMemoryBudgetShedsWhileOverAndRecovers(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	_, apiURL := startFake(t)
	cfg := testConfig(t, apiURL, "")
	cfg.HTTP.MaxMemoryBytes = 256 << 20
	svc := start(t, cfg, service.Roles{Receive: true})
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C-before")).StatusCode, "this test's heap is far below the budget")

	ballast := make([]byte, 200<<20)
	runtime.GC() // the collections the runtime would run as the heap grows
	var shed *http.Response
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp := post(c, svc, deactivated("C-over"))
		assert.Equal(c, http.StatusServiceUnavailable, resp.StatusCode)
		shed = resp
	}, 10*time.Second, 50*time.Millisecond)
	assert.NotEmpty(t, shed.Header.Get("Retry-After"))
	runtime.KeepAlive(ballast)

	ballast = nil
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, http.StatusOK, post(c, svc, deactivated("C-after")).StatusCode)
	}, 10*time.Second, 50*time.Millisecond, "back under the budget without any collection of the test's")

	req, err := http.NewRequest(http.MethodGet, "http://"+svc.AdminAddr()+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Regexp(t, `chatwarden_webhooks_rejected_total\{platform="livechat",reason="over_memory"\} [1-9]`, string(body))
}
