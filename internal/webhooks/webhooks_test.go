package webhooks_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/webhooks"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
	"github.com/chatwarden/chatwarden/rules"
)

const hookRules = `rules:
  - name: unpin
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned
    then: [{livechat.unpin: {}}]
  - name: tag-vip
    on: [livechat.incoming_chat, livechat.chat_deactivated]
    if: chat.properties["routing"]["pinned"] == true
    then: [{livechat.tag_thread: {tag: vip}}]
  - name: everything
    on: [livechat.*]
    if: "false"
    then: [{livechat.unpin: {}}]
    dry_run: true
  - name: helpcrunch-only
    on: [helpcrunch.chat.closed]
    then: [{helpcrunch.unassign: {}}]
`

func loadRules(t *testing.T, text string) *rules.RuleSet {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	set, err := rules.LoadFile(path, platform.Actions(), rules.DefaultRegistry(), rules.AllowUnknownActions())
	require.NoError(t, err)
	return set
}

func TestNeeded(t *testing.T) {
	need, wildcards := webhooks.Needed(loadRules(t, hookRules), []string{"incoming_event"})
	assert.Equal(t, map[string]*webhooks.Need{
		"chat_deactivated": {Properties: true, Rules: []string{"unpin", "tag-vip"}},
		"incoming_chat":    {Properties: true, Rules: []string{"tag-vip"}},
		"incoming_event":   {},
	}, need)
	assert.Equal(t, []string{"everything"}, wildcards)
}

// TestRegister runs Register against the Configuration API fake: what it
// keeps, registers and prunes, and that a dry run changes nothing.
func TestRegister(t *testing.T) {
	const owner, url = "app-1", "https://cw.example.com/webhooks/livechat"
	need := map[string]*webhooks.Need{"chat_deactivated": {Properties: true}, "incoming_chat": {}}
	tests := []struct {
		name      string
		dryRun    bool
		prune     bool
		want      []webhooks.Outcome
		wantHooks int // registered afterwards
	}{
		{"dry run", true, true, []webhooks.Outcome{webhooks.Kept, webhooks.WouldRegister, webhooks.WouldUnregister}, 2},
		{"keeps and reports the stale one", false, false, []webhooks.Outcome{webhooks.Kept, webhooks.Registered, webhooks.NotNeeded}, 3},
		{"prunes", false, true, []webhooks.Outcome{webhooks.Kept, webhooks.Registered, webhooks.Unregistered}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := livechattest.NewConfiguration()
			base, stop := conf.Start()
			defer stop()
			conf.AddWebhook(livechat.Webhook{Action: "chat_deactivated", URL: url, OwnerClientID: owner, SecretKey: "s",
				Type: livechat.WebhookTypeLicense, AdditionalData: []string{livechat.AdditionalChatProperties}})
			conf.AddWebhook(livechat.Webhook{Action: "chat_transferred", URL: url, OwnerClientID: owner, SecretKey: "s",
				Type: livechat.WebhookTypeLicense})
			client, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(base))
			require.NoError(t, err)
			existing, err := client.ListWebhooks(context.Background(), owner)
			require.NoError(t, err)

			steps, err := webhooks.Register(context.Background(), client, webhooks.Registration{Owner: owner, URL: url, Secret: "s",
				Need: need, Existing: existing, DryRun: tt.dryRun, Prune: tt.prune})
			require.NoError(t, err)
			var got []webhooks.Outcome
			for _, st := range steps {
				got = append(got, st.Outcome)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "chat_deactivated", steps[0].Action)
			assert.Equal(t, []string{livechat.AdditionalChatProperties}, steps[0].AdditionalData)
			assert.Equal(t, "incoming_chat", steps[1].Action)
			assert.Equal(t, "chat_transferred", steps[2].Action)
			assert.Len(t, conf.Webhooks(), tt.wantHooks)
		})
	}
}

func TestRegisterReportsTheStepsBeforeAFailure(t *testing.T) {
	conf := livechattest.NewConfiguration()
	base, stop := conf.Start()
	defer stop()
	client, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(base))
	require.NoError(t, err)
	conf.FailNext("register_webhook", 1, livechattest.Failure{Type: livechat.TypeLimitReached, Message: "limit"})
	steps, err := webhooks.Register(context.Background(), client, webhooks.Registration{Owner: "app-1", URL: "https://x.example.com/webhooks/livechat",
		Secret: "s", Need: map[string]*webhooks.Need{"a_first": {}}})
	require.ErrorIs(t, err, livechat.ErrLimitReached)
	assert.ErrorContains(t, err, "registering the a_first webhook")
	assert.Empty(t, steps)
}

func TestSelect(t *testing.T) {
	hooks := []livechat.Webhook{{ID: "a", URL: "https://a"}, {ID: "b", URL: "https://b"}, {ID: "c", URL: "https://b"}}
	ids := func(ws []livechat.Webhook) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.ID)
		}
		return out
	}
	tests := []struct {
		name string
		ids  []string
		url  string
		all  bool
		want []string
	}{
		{"by id", []string{"c"}, "", false, []string{"c"}},
		{"by url", nil, "https://b", false, []string{"b", "c"}},
		{"all", nil, "", true, []string{"a", "b", "c"}},
		{"none match", nil, "https://z", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhooks.Select(hooks, tt.ids, tt.url, tt.all)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(got))
		})
	}
	_, err := webhooks.Select(hooks, []string{"a", "zz"}, "", false)
	require.ErrorIs(t, err, webhooks.ErrNoWebhook)
	assert.EqualError(t, err, "no webhook zz")
}
