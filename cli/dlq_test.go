package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const (
	dlqSecret     = "whsec-dlq"
	dlqAdminToken = "admin-t0ken"
	// acting unpin rule (the built-in examples run in dry run)
	dlqRules = `rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// serveForDLQ runs `chatwarden serve` through Run with the acting unpin rule,
// the fake LiveChat at apiURL and an admin token; it returns the HTTP base
// URL and the address of the embedded server's listener. The service stops
// at the end of the test and must exit cleanly.
func serveForDLQ(t *testing.T, apiURL string) (httpURL, adminURL, natsListen, dataDir string) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	httpPort, natsPort, adminPort := bustest.FreePort(t), bustest.FreePort(t), bustest.FreePort(t)
	natsListen = fmt.Sprintf("127.0.0.1:%d", natsPort)
	path := writeFile(t, "chatwarden.yaml", fmt.Sprintf(`
http: {addr: "127.0.0.1:%d"}
admin: {addr: "127.0.0.1:%d", token: %q}
nats: {listen: %q, data_dir: %q}
livechat:
  api_url: %s
  webhook_secrets: [%q]
  pat: {account_id: acc, token: pat}
workers: {backoff_base: 20ms, backoff_max: 200ms}
rules_file: %s
log: {level: debug}
`, httpPort, adminPort, dlqAdminToken, natsListen, dataDir, apiURL, dlqSecret,
		writeFile(t, "rules.yaml", dlqRules)))

	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--config", path}, func(string) string { return "" }, io.Discard, stderr)
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
	httpURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	adminURL = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	require.Eventually(t, func() bool {
		resp, err := http.Get(httpURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "serve did not become ready; log:\n%s", stderr)
	return httpURL, adminURL, natsListen, dataDir
}

func postDeactivated(t *testing.T, httpURL, chat string) {
	t.Helper()
	resp, err := http.Post(httpURL+"/webhooks/livechat", "application/json",
		bytes.NewReader(samples.LiveChat("chat_deactivated", dlqSecret, chat, "T-"+chat)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// listDLQ runs `dlq list --json` and returns the dead letters.
func listDLQ(t require.TestingT, cfgPath string, extra ...string) []dlq.DeadLetter {
	helper(t)
	stdout, stderr, code := runCLI(t, append([]string{"dlq", "list", "--json", "--config", cfgPath}, extra...)...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	var l dlq.Listing
	require.NoError(t, json.Unmarshal([]byte(stdout), &l), stdout)
	return l.DeadLetters
}

func successfulUnpins(fake *livechattest.Server, chat string) int {
	n := 0
	for _, c := range fake.CallsTo("update_chat_properties") {
		if c.Status == http.StatusOK && strings.Contains(string(c.Body), `"`+chat+`"`) {
			n++
		}
	}
	return n
}

func adminCall(t require.TestingT, method, url, token string) (int, string) {
	helper(t)
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDLQUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no subcommand", []string{"dlq"}, 2, "list", "a dlq subcommand is required"},
		{"unknown subcommand", []string{"dlq", "frob"}, 2, "", `unknown dlq subcommand "frob"`},
		{"show without id", []string{"dlq", "show"}, 2, "", "takes one dead letter"},
		{"show with two ids", []string{"dlq", "show", "1", "2"}, 2, "", "takes one dead letter"},
		{"retry without id or --all", []string{"dlq", "retry"}, 2, "", "or --all"},
		{"retry with id and --all", []string{"dlq", "retry", "1", "--all"}, 2, "", "not both"},
		{"retry one with --reason", []string{"dlq", "retry", "1", "--reason", "permanent"}, 2, "", "for --all"},
		{"retry --all with a bad reason", []string{"dlq", "retry", "--all", "--reason", "bogus"}, 2, "", "attempts_exhausted"},
		{"list with a bad reason", []string{"dlq", "list", "--reason", "bogus"}, 2, "", "want one of permanent"},
		{"list with a bad since", []string{"dlq", "list", "--since", "yesterday"}, 2, "", "RFC 3339"},
		{"list with an argument", []string{"dlq", "list", "7"}, 2, "", "takes no arguments"},
		{"purge without id or --older-than", []string{"dlq", "purge"}, 2, "", "--older-than"},
		{"purge with id and --older-than", []string{"dlq", "purge", "1", "--older-than", "1h"}, 2, "", "not both"},
		{"purge with a bad duration", []string{"dlq", "purge", "--older-than", "soon"}, 2, "", "24h or 7d"},
		{"purge with a zero duration", []string{"dlq", "purge", "--older-than", "0s"}, 2, "", "positive"},
		{"unknown flag", []string{"dlq", "list", "--frob"}, 2, "", "unknown flag"},
	}
	for _, sub := range [][]string{{"dlq"}, {"dlq", "list"}, {"dlq", "show"}, {"dlq", "retry"}, {"dlq", "purge"}} {
		tests = append(tests, struct {
			name       string
			args       []string
			wantCode   int
			wantStdout string
			wantStderr string
		}{"help of " + strings.Join(sub, " "), append(sub, "--help"), 0, "--config", ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.args...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout, tt.wantStdout)
			assert.Contains(t, stderr, tt.wantStderr)
		})
	}
}

// TestDLQWhileServeRuns dead-letters a permanent failure in a running
// `serve`, then inspects, retries and purges dead letters with the CLI
// connected to the embedded server's listener, and through the admin API.
func TestDLQWhileServeRuns(t *testing.T) {
	fake := livechattest.New(livechattest.WithAuth("acc", "pat"))
	apiURL, stop := fake.Start()
	t.Cleanup(stop)
	for _, chat := range []string{"C1", "C2", "C3"} {
		fake.AddChat(livechattest.UnassignedChat(chat, time.Now().Add(-time.Hour)))
	}
	fake.FailNext("update_chat_properties", 1, livechattest.Validation("properties.routing.pinned: wrong type"))
	httpURL, adminURL, listen, dataDir := serveForDLQ(t, apiURL)
	// The operator's configuration names the service's listener and data
	// directory: the commands reach the running service (the data directory
	// is locked by it) with the credentials it keeps there.
	cfgPath := writeFile(t, "operator.yaml", fmt.Sprintf("nats: {listen: %q, data_dir: %q}\n", listen, dataDir))
	// Without those credentials the broker refuses the command, which says
	// where they are.
	elsewhere := writeFile(t, "elsewhere.yaml", fmt.Sprintf("nats: {listen: %q, data_dir: %q}\n", listen, filepath.Join(t.TempDir(), "empty")))
	_, stderr, code := runCLI(t, "dlq", "list", "--config", elsewhere)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Authorization Violation")
	assert.Contains(t, stderr, "nats.data_dir")

	postDeactivated(t, httpURL, "C1")
	var dls []dlq.DeadLetter
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		dls = listDLQ(c, cfgPath)
		assert.Len(c, dls, 1)
	}, 20*time.Second, 50*time.Millisecond)
	seq := strconv.FormatUint(dls[0].Seq, 10)

	t.Run("list", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "dlq", "list", "--config", cfgPath, "--since", "1h", "--reason", "permanent")
		require.Equal(t, 0, code, stderr)
		for _, want := range []string{"SEQ", "REASON", seq, "C1", "permanent", "validation", "unpin-abandoned-unassigned", "HTTP 422 validation"} {
			assert.Contains(t, stdout, want)
		}
		assert.Empty(t, listDLQ(t, cfgPath, "--reason", "attempts_exhausted"))
	})

	t.Run("show", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "dlq", "show", seq, "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		for _, want := range []string{"Failed attempts", "wrong type", "livechat.unpin", "permanent (validation)", `"chat_id": "C1"`, "dlq retry " + seq} {
			assert.Contains(t, stdout, want)
		}
		stdout, stderr, code = runCLI(t, "dlq", "show", dls[0].ID, "--json", "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		var d dlq.Detail
		require.NoError(t, json.Unmarshal([]byte(stdout), &d))
		assert.Equal(t, dls[0].Seq, d.Seq, "the event id names the same dead letter")
		require.Len(t, d.FailedAttempts, 1)
		assert.Contains(t, d.FailedAttempts[0].Error, "wrong type")
	})

	t.Run("unknown id", func(t *testing.T) {
		for _, args := range [][]string{{"show", "999"}, {"retry", "999"}, {"purge", "nope"}} {
			_, stderr, code := runCLI(t, append(append([]string{"dlq"}, args...), "--config", cfgPath)...)
			assert.Equal(t, 1, code, args)
			assert.Contains(t, stderr, "no dead letter "+args[1]+"; see `chatwarden dlq list`")
		}
	})

	t.Run("admin API", func(t *testing.T) {
		status, _ := adminCall(t, http.MethodGet, adminURL+"/admin/dlq", "")
		assert.Equal(t, http.StatusUnauthorized, status)
		status, _ = adminCall(t, http.MethodGet, adminURL+"/admin/dlq", "wrong")
		assert.Equal(t, http.StatusUnauthorized, status)
		status, body := adminCall(t, http.MethodGet, adminURL+"/admin/dlq", dlqAdminToken)
		require.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, `"count":1`)
		for _, path := range []string{"/admin/dlq", "/metrics", "/ui/", "/debug/pprof/"} {
			status, _ = adminCall(t, http.MethodGet, httpURL+path, dlqAdminToken)
			assert.Equal(t, http.StatusNotFound, status, "the public port does not serve %s", path)
		}
		status, body = adminCall(t, http.MethodPost, adminURL+"/admin/dlq/"+seq+"/retry?dry_run=true", dlqAdminToken)
		require.Equal(t, http.StatusOK, status, body)
		assert.Contains(t, body, `"outcome":"would_retry"`)
	})

	t.Run("retry dry run changes nothing", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "dlq", "retry", seq, "--dry-run", "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "Nothing changed")
		stdout, stderr, code = runCLI(t, "dlq", "retry", "--all", "--dry-run", "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "would have retried 1")
		assert.Len(t, listDLQ(t, cfgPath), 1)
		assert.Equal(t, 0, successfulUnpins(fake, "C1"))
	})

	t.Run("retry completes once the cause is fixed", func(t *testing.T) {
		// FailNext fired once: the fake answers normally again.
		stdout, stderr, code := runCLI(t, "dlq", "retry", seq, "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "Retried dead letter "+seq)
		require.Eventually(t, func() bool { return successfulUnpins(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
		c, _ := fake.Chat("C1")
		assert.False(t, c.Pinned())
		assert.Empty(t, listDLQ(t, cfgPath))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			_, m := adminCall(c, http.MethodGet, adminURL+"/metrics", dlqAdminToken)
			assert.Contains(c, m, "chatwarden_dead_letters_pending 0")
		}, 20*time.Second, 50*time.Millisecond)
	})

	t.Run("purge by id and by age", func(t *testing.T) {
		fake.FailNext("update_chat_properties", 2, livechattest.Validation("properties.routing.pinned: wrong type"))
		postDeactivated(t, httpURL, "C2")
		postDeactivated(t, httpURL, "C3")
		require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, listDLQ(c, cfgPath), 2) }, 20*time.Second, 50*time.Millisecond)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			_, m := adminCall(c, http.MethodGet, adminURL+"/metrics", dlqAdminToken)
			assert.Contains(c, m, "chatwarden_dead_letters_pending 2")
		}, 20*time.Second, 50*time.Millisecond)
		dls := listDLQ(t, cfgPath)
		first := strconv.FormatUint(dls[0].Seq, 10)

		stdout, stderr, code := runCLI(t, "dlq", "purge", first, "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "Purged dead letter "+first)
		left := listDLQ(t, cfgPath)
		require.Len(t, left, 1)
		assert.Equal(t, dls[1].Seq, left[0].Seq)

		stdout, stderr, code = runCLI(t, "dlq", "purge", "--older-than", "1h", "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "No dead letters to purge")
		stdout, stderr, code = runCLI(t, "dlq", "purge", "--older-than", "1ms", "--dry-run", "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "would have purged 1")
		assert.Len(t, listDLQ(t, cfgPath), 1)
		stdout, stderr, code = runCLI(t, "dlq", "purge", "--older-than", "1ms", "--json", "--config", cfgPath)
		require.Equal(t, 0, code, stderr)
		var rep dlq.Report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		assert.Equal(t, 1, rep.Done)
		assert.Equal(t, dls[1].Seq, rep.Results[0].Seq)
		assert.Empty(t, listDLQ(t, cfgPath))
	})
}

// TestDLQWithoutARunningService opens the data directory itself: a dead
// letter retried while no service runs is handled when it starts again.
func TestDLQWithoutARunningService(t *testing.T) {
	fake := livechattest.New()
	apiURL, stop := fake.Start()
	t.Cleanup(stop)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("update_chat_properties", 1, livechattest.Validation("properties.routing.pinned: wrong type"))

	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.NATS.Listen = fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
	cfg.NATS.DataDir = t.TempDir()
	cfg.LiveChat.APIURL = apiURL
	cfg.LiveChat.WebhookSecrets = []string{dlqSecret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.Workers.BackoffBase, cfg.Workers.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.RulesFile = writeFile(t, "rules.yaml", dlqRules)
	require.NoError(t, cfg.Validate())
	cfgPath := writeFile(t, "operator.yaml", fmt.Sprintf("nats: {listen: %q, data_dir: %q}\n", cfg.NATS.Listen, cfg.NATS.DataDir))

	startSvc := func() *service.Service {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(zaptest.NewLogger(t)))
		require.NoError(t, err)
		return svc
	}
	stopSvc := func(svc *service.Service) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, svc.Stop(ctx))
	}

	svc := startSvc()
	postDeactivated(t, "http://"+svc.Addr(), "C1")
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, listDLQ(c, cfgPath), 1) }, 20*time.Second, 50*time.Millisecond)
	stopSvc(svc)

	stdout, stderr, code := runCLI(t, "dlq", "list", "--config", cfgPath)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "using nats.data_dir")
	assert.Contains(t, stdout, "C1")
	seq := strconv.FormatUint(listDLQ(t, cfgPath)[0].Seq, 10)
	stdout, stderr, code = runCLI(t, "dlq", "retry", seq, "--config", cfgPath)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "will handle it when `chatwarden serve`")
	assert.Empty(t, listDLQ(t, cfgPath))
	assert.Equal(t, 0, successfulUnpins(fake, "C1"))

	svc = startSvc()
	t.Cleanup(func() { stopSvc(svc) })
	require.Eventually(t, func() bool { return successfulUnpins(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
}
