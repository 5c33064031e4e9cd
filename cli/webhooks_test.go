package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/livechat/oauth/oauthtest"
	"github.com/chatwarden/chatwarden/samples"
)

const hookRules = `
rules:
  - name: unpin
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then: [{livechat.unpin: {}}]
  - name: route-by-page
    on: [livechat.incoming_chat, livechat.chat_transferred]
    if: chat.properties.routing?.pinned == true
    then: [{livechat.tag_thread: {tag: x}}]
  - name: helpcrunch-only
    on: [helpcrunch.chat.new]
    then: [{helpcrunch.unassign: {}}]
`

// webhooksEnv writes a configuration pointing at a Configuration API fake
// and a rule file, and returns the config path.
func webhooksEnv(t *testing.T, fake *livechattest.Configuration, rulesYAML, extra string) string {
	t.Helper()
	url, stop := fake.Start()
	t.Cleanup(stop)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(rulesYAML), 0o600))
	cfg := fmt.Sprintf(`rules_file: %s
nats: {listen: "127.0.0.1:%d", data_dir: %q}
livechat:
  api_url: %s
  webhook_secrets: [whsec-new, whsec-old]
%s`, rulesPath, bustest.FreePort(t), filepath.Join(dir, "data"), url, extra)
	path := filepath.Join(dir, "chatwarden.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

const patCreds = `  pat: {account_id: acc-1, token: pat-1}
  owner_client_id: app-1
`

func TestWebhooksRegisterWhatTheRulesNeed(t *testing.T) {
	fake := livechattest.NewConfiguration(livechattest.ConfigurationAuth("acc-1", "pat-1"))
	cfg := webhooksEnv(t, fake, hookRules, patCreds)

	stdout, stderr, code := runCLI(t, "webhooks", "register", "--config", cfg, "--url", "https://cw.example.com", "--action", "thread_tagged")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
	hooks := fake.Webhooks()
	got := map[string]livechat.Webhook{}
	for _, h := range hooks {
		got[h.Action] = h
	}
	require.Len(t, got, 4, "one per LiveChat action of the rules, plus --action: %v", hooks)
	for action, wantProps := range map[string]bool{"chat_deactivated": false, "incoming_chat": true, "chat_transferred": true, "thread_tagged": false} {
		h, ok := got[action]
		require.True(t, ok, action)
		assert.Equal(t, "https://cw.example.com/webhooks/livechat", h.URL)
		assert.Equal(t, "whsec-new", h.SecretKey, "the first configured secret")
		assert.Equal(t, "app-1", h.OwnerClientID)
		assert.Equal(t, livechat.WebhookTypeLicense, h.Type)
		if wantProps {
			assert.Equal(t, []string{"chat_properties"}, h.AdditionalData, action)
		} else {
			assert.Empty(t, h.AdditionalData, action)
		}
	}
	assert.Contains(t, stdout, "registered")
	assert.Contains(t, stdout, "license webhooks of client app-1: enabled")
	assert.NotContains(t, stdout+stderr, "whsec-new")

	// Again: identical registrations are kept, nothing is added.
	stdout, _, code = runCLI(t, "webhooks", "register", "--config", cfg, "--url", "https://cw.example.com/webhooks/livechat", "--action", "thread_tagged")
	require.Equal(t, 0, code)
	assert.Len(t, fake.Webhooks(), 4)
	assert.Len(t, fake.CallsTo("register_webhook"), 4)
	assert.Equal(t, 4, strings.Count(stdout, "kept (already registered)"))
	assert.Len(t, fake.CallsTo("list_webhooks"), 2, "listed first, each time")
}

func TestWebhooksRegisterDryRunAndPrune(t *testing.T) {
	fake := livechattest.NewConfiguration()
	url := "https://cw.example.com/webhooks/livechat"
	old := fake.AddWebhook(livechat.Webhook{Action: "incoming_chat", URL: url, OwnerClientID: "app-1", Type: "license", SecretKey: "x"})
	stale := fake.AddWebhook(livechat.Webhook{Action: "thread_tagged", URL: url, OwnerClientID: "app-1", Type: "license", SecretKey: "x"})
	elsewhere := fake.AddWebhook(livechat.Webhook{Action: "thread_tagged", URL: "https://other.example.com/hook", OwnerClientID: "app-1", Type: "license", SecretKey: "x"})
	cfg := webhooksEnv(t, fake, hookRules, patCreds)

	tests := []struct {
		name       string
		args       []string
		wantOut    []string
		wantHooks  []string // ids still there (new ones not listed)
		wantNew    int
		wantOutput string
	}{
		{"dry run changes nothing", []string{"--dry-run", "--prune"},
			[]string{"would register", "would unregister", "dry run: nothing changed"}, []string{old, stale, elsewhere}, 0, ""},
		{"without --prune stale ones are reported", nil,
			[]string{"registered", "not needed by the rules (--prune removes it)"}, []string{old, stale, elsewhere}, 3, ""},
		{"--prune removes what the rules do not need at this URL", []string{"--prune"},
			[]string{"unregistered", "kept (already registered)"}, []string{elsewhere}, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"webhooks", "register", "--config", cfg, "--url", url}, tt.args...)...)
			require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
			for _, w := range tt.wantOut {
				assert.Contains(t, stdout, w)
			}
			ids := map[string]bool{}
			for _, h := range fake.Webhooks() {
				ids[h.ID] = true
			}
			for _, id := range tt.wantHooks {
				assert.True(t, ids[id], "%s kept", id)
			}
			assert.Equal(t, tt.wantNew, len(fake.Webhooks())-len(tt.wantHooks))
		})
	}
}

func TestWebhooksRegisterUsageAndFailures(t *testing.T) {
	tests := []struct {
		name       string
		rules      string
		extra      string
		args       []string
		failure    *livechattest.Failure
		wantCode   int
		wantStderr string
	}{
		{"no url", hookRules, patCreds, nil, nil, 2, "--url is required"},
		{"plain http to a public host", hookRules, patCreds, []string{"--url", "http://cw.example.com"}, nil, 2, "must use https"},
		{"unknown action", hookRules, patCreds, []string{"--url", "https://cw.example.com", "--action", "chat_exploded"}, nil, 2, "not a LiveChat webhook action"},
		{"no owner client id", hookRules, "  pat: {account_id: acc-1, token: pat-1}\n", []string{"--url", "https://cw.example.com"}, nil, 2, "--owner-client-id"},
		{"no credentials", hookRules, "  owner_client_id: app-1\n", []string{"--url", "https://cw.example.com"}, nil, 1, "no LiveChat credentials"},
		{"only wildcard rules", "rules:\n  - name: all\n    on: [livechat.*]\n    then: [{livechat.unpin: {}}]\n", patCreds,
			[]string{"--url", "https://cw.example.com"}, nil, 2, "listens to livechat.*"},
		{"missing scope", hookRules, patCreds, []string{"--url", "https://cw.example.com"},
			&livechattest.Failure{Type: livechat.TypeAuthorization, Message: "Insufficient scopes"}, 1, "webhooks.configuration:rw"},
		{"limit reached", hookRules, patCreds, []string{"--url", "https://cw.example.com"},
			&livechattest.Failure{Type: livechat.TypeLimitReached, Message: "limit"}, 1, "3 webhooks per action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := livechattest.NewConfiguration()
			if tt.failure != nil {
				action := "list_webhooks"
				if tt.failure.Type == livechat.TypeLimitReached {
					action = "register_webhook"
				}
				fake.FailNext(action, 1, *tt.failure)
			}
			cfg := webhooksEnv(t, fake, tt.rules, tt.extra)
			stdout, stderr, code := runCLI(t, append([]string{"webhooks", "register", "--config", cfg}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stderr, tt.wantStderr)
		})
	}
}

func TestWebhooksState(t *testing.T) {
	tests := []struct {
		name       string
		enabled    bool
		args       []string
		wantCode   int
		wantOut    string
		wantStderr string
		wantAfter  bool
	}{
		{"enabled", true, nil, 0, "license webhooks of client app-1: enabled", "", true},
		{"disabled fails and says what to do", false, nil, 1, "license webhooks of client app-1: disabled", "webhooks state --enable", false},
		{"enable", false, []string{"--enable"}, 0, "enabled", "", true},
		{"disable", true, []string{"--disable"}, 0, "license webhooks: disabled", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := livechattest.NewConfiguration()
			fake.SetLicenseWebhooks("app-1", tt.enabled)
			cfg := webhooksEnv(t, fake, hookRules, patCreds)
			stdout, stderr, code := runCLI(t, append([]string{"webhooks", "state", "--config", cfg}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout, tt.wantOut)
			assert.Contains(t, stderr, tt.wantStderr)
			assert.Equal(t, tt.wantAfter, fake.LicenseWebhooksEnabled("app-1"))
		})
	}
	_, stderr, code := runCLI(t, "webhooks", "state", "--enable", "--disable")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "exclude each other")
}

func TestWebhooksRegisterFailsWhenLicenseWebhooksAreDisabled(t *testing.T) {
	fake := livechattest.NewConfiguration()
	fake.SetLicenseWebhooks("app-1", false)
	cfg := webhooksEnv(t, fake, hookRules, patCreds)
	stdout, stderr, code := runCLI(t, "webhooks", "register", "--config", cfg, "--url", "https://cw.example.com")
	assert.Equal(t, 1, code)
	assert.Len(t, fake.Webhooks(), 3, "registered anyway")
	assert.Contains(t, stdout, "disabled")
	assert.Contains(t, stderr, "license webhooks are disabled")
}

func TestWebhooksListAndUnregister(t *testing.T) {
	fake := livechattest.NewConfiguration()
	a := fake.AddWebhook(livechat.Webhook{Action: "incoming_chat", URL: "https://a.example.com/webhooks/livechat", OwnerClientID: "app-1",
		Type: "license", SecretKey: "s", AdditionalData: []string{"chat_properties"}, Description: "chatwarden"})
	b := fake.AddWebhook(livechat.Webhook{Action: "chat_deactivated", URL: "https://a.example.com/webhooks/livechat", OwnerClientID: "app-1", Type: "license", SecretKey: "s"})
	c := fake.AddWebhook(livechat.Webhook{Action: "chat_deactivated", URL: "https://b.example.com/webhooks/livechat", OwnerClientID: "app-1", Type: "license", SecretKey: "s"})
	fake.AddWebhook(livechat.Webhook{Action: "chat_deactivated", URL: "https://b.example.com/webhooks/livechat", OwnerClientID: "app-2", Type: "license", SecretKey: "s"})
	cfg := webhooksEnv(t, fake, hookRules, patCreds)

	stdout, _, code := runCLI(t, "webhooks", "list", "--config", cfg)
	require.Equal(t, 0, code)
	for _, want := range []string{a, b, c, "chat_properties", "https://a.example.com/webhooks/livechat", "enabled"} {
		assert.Contains(t, stdout, want)
	}
	stdout, _, code = runCLI(t, "webhooks", "list", "--config", cfg, "--json")
	require.Equal(t, 0, code)
	var listing struct {
		Count    int                `json:"count"`
		Webhooks []livechat.Webhook `json:"webhooks"`
		Enabled  bool               `json:"license_webhooks_enabled"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &listing))
	assert.Equal(t, 3, listing.Count, "only app-1's")
	assert.True(t, listing.Enabled)
	assert.NotContains(t, stdout, `"secret_key"`)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantGone []string
		wantOut  string
	}{
		{"nothing selected", nil, 2, nil, ""},
		{"two selectors", []string{b, "--all"}, 2, nil, ""},
		{"unknown id", []string{"wh-999"}, 1, nil, ""},
		{"dry run", []string{"--all", "--dry-run"}, 0, nil, "would unregister"},
		{"by url", []string{"--url", "https://b.example.com"}, 0, []string{c}, "unregistered"},
		{"by id", []string{a}, 0, []string{a}, "unregistered"},
		{"all", []string{"--all"}, 0, []string{b}, "unregistered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"webhooks", "unregister", "--config", cfg}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout, tt.wantOut)
			for _, id := range tt.wantGone {
				for _, h := range fake.Webhooks() {
					assert.NotEqual(t, id, h.ID)
				}
			}
		})
	}
	assert.Len(t, fake.Webhooks(), 1, "app-2's webhook is not app-1's to remove")
}

// With OAuth the command renews the access token through the shared token
// bucket, so it does not spend the service's refresh token.
func TestWebhooksWithOAuthUseTheSharedTokenBucket(t *testing.T) {
	acc := oauthtest.New("client-1", "secret-1", "refresh-0")
	accURL, stopAcc := acc.Start()
	defer stopAcc()
	fake := livechattest.NewConfiguration()
	cfg := webhooksEnv(t, fake, hookRules, fmt.Sprintf(`  oauth: {client_id: client-1, client_secret: secret-1, refresh_token: refresh-0, accounts_url: %s}
`, accURL))
	c, err := config.Load(cfg, func(string) string { return "" })
	require.NoError(t, err)
	ctx := context.Background()
	_, stderr, code := runCLI(t, "webhooks", "list", "--config", cfg)
	require.Equal(t, 1, code)
	assert.Contains(t, stderr, "start `chatwarden serve`", "the token bucket must exist: a rotated refresh token must not be lost")
	assert.Zero(t, acc.Requests())
	initialized, err := bus.Open(ctx, c.NATS) // as the service's first start would
	require.NoError(t, err)
	require.NoError(t, initialized.Close(ctx))

	for range 2 {
		stdout, stderr, code := runCLI(t, "webhooks", "list", "--config", cfg)
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
		assert.Contains(t, stdout, "client client-1", "owner_client_id defaults to the OAuth client id")
	}
	assert.Equal(t, 1, acc.Mints(), "the second run reuses the stored token")
	for _, c := range fake.Calls() {
		assert.Equal(t, "Bearer dal:access-1", c.Header.Get("Authorization"))
	}

	// The token bucket lives in nats.data_dir (no service was running).
	b, err := bus.OpenForOperator(ctx, c.NATS)
	require.NoError(t, err)
	defer func() { _ = b.Close(ctx) }()
	kv, err := b.JS.KeyValue(ctx, oauth.Bucket)
	require.NoError(t, err)
	keys, err := kv.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	e, err := kv.Get(ctx, keys[0])
	require.NoError(t, err)
	assert.Contains(t, string(e.Value()), "refresh-1")
}

// While serve runs, `webhooks` shares the service's OAuth token through the
// embedded broker: one token for both.
func TestWebhooksWhileServeRunsShareTheOAuthToken(t *testing.T) {
	acc := oauthtest.New("client-1", "secret-1", "refresh-0")
	accURL, stopAcc := acc.Start()
	defer stopAcc()
	agent := livechattest.New()
	agent.AddChat(deactivatedChat(livechattest.UnassignedChat("C1", time.Now().Add(-72*time.Hour))))
	conf := livechattest.NewConfiguration()
	api := httptest.NewServer(acc.Protect(conf.Handler(agent)))
	defer api.Close()
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(hookRules), 0o600))

	baseURL, _, path, stderr := runServeConfig(t, fmt.Sprintf(`
rules_file: %s
livechat:
  api_url: %s
  webhook_secrets: [whsec]
  oauth: {client_id: client-1, client_secret: secret-1, refresh_token: refresh-0, accounts_url: %s}
workers: {backoff_base: 20ms, backoff_max: 200ms}
`, rulesFile, api.URL, accURL), nil)

	stdout, errOut, code := runCLI(t, "webhooks", "register", "--config", path, "--url", "https://cw.example.com")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, errOut)
	assert.Len(t, conf.Webhooks(), 3)
	assert.Equal(t, 1, acc.Mints())

	resp, err := http.Post(baseURL+"/webhooks/livechat", "application/json",
		bytes.NewReader(samples.LiveChat("chat_deactivated", "whsec", "C1", "T-C1")))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool { return len(agent.CallsTo("update_chat_properties")) == 1 }, 20*time.Second, 20*time.Millisecond,
		"log:\n%s", stderr)
	assert.Equal(t, 1, acc.Mints(), "the service used the token the command renewed")
	assert.Equal(t, "Bearer dal:access-1", agent.CallsTo("update_chat_properties")[0].Header.Get("Authorization"))
}
