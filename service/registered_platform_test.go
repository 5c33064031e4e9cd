package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/internal/acme"
	"github.com/chatwarden/chatwarden/rules"
)

// The package acme registers Acme Chat, a fourth platform, the way an
// adapter does (see docs/platforms.md): importing it is the one line.
var _ = acme.Name

func init() {
	// A Go handler reaches the platform's action through c.Do.
	rules.MustRegister("service_test_acme_via_go", rules.RuleFunc(func(ctx context.Context, c *rules.Call) error {
		return c.Do(ctx, "acme.ping", acme.PingParams{Note: "go"})
	}))
}

// acmeAPI is a fake of Acme's API: it records the notes posted with the
// right token ("conversation/note").
type acmeAPI struct {
	mu    sync.Mutex
	pings []string
}

func (a *acmeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ping" || r.Header.Get("Authorization") != "Bearer acme-tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p struct{ Conversation, Note string }
	if json.NewDecoder(r.Body).Decode(&p) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pings = append(a.pings, p.Conversation+"/"+p.Note)
}

func (a *acmeAPI) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.pings)
}

func postAcme(t *testing.T, addr, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/acme", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(acme.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRegisteredPlatformActsEndToEnd: a platform whose package registers
// itself, and nothing else, works in a running service: its configuration
// section (platforms.acme, read by config.Parse) gives its client and its
// webhook token; its receiver is served at /webhooks/acme; a rule on its
// own webhook runs its action, which calls its API through its client; a
// rule on another platform's event (cross_platform) and a Go handler's
// c.Do run it too. (Without the registry wiring serve refuses the rule file:
// unknown action "acme.ping"; without the receiver /webhooks/acme is 404.)
func TestRegisteredPlatformActsEndToEnd(t *testing.T) {
	api := &acmeAPI{}
	acmeSrv := httptest.NewServer(api)
	t.Cleanup(acmeSrv.Close)
	fake, url := startFake(t)
	cfg := testConfig(t, url, "")
	parsed, err := config.Parse([]byte("platforms:\n  acme:\n    url: "+acmeSrv.URL+"\n    token: ${ACME_TOKEN}\n    webhook_token: hook-tok\n"),
		func(k string) string { return map[string]string{"ACME_TOKEN": "acme-tok"}[k] })
	require.NoError(t, err)
	cfg.Platforms = parsed.Platforms
	cfg.RulesFile = writeRules(t, `
rules:
  - name: acme-yaml
    on: [livechat.chat_deactivated]
    cross_platform: true
    then:
      - acme.ping: {note: yaml}
  - name: acme-go
    on: [livechat.chat_deactivated]
    then:
      - go: service_test_acme_via_go
  - name: acme-own
    on: [acme.conversation.created]
    then:
      - acme.ping: {note: webhook}
`)
	svc := start(t, cfg, both)

	assert.Equal(t, http.StatusUnauthorized, postAcme(t, svc.Addr(), "wrong", `{"id":"w0","type":"conversation.created","conversation":"C0"}`))
	assert.Equal(t, http.StatusBadRequest, postAcme(t, svc.Addr(), "hook-tok", `{"type":"conversation.created"}`))
	require.Equal(t, http.StatusOK, postAcme(t, svc.Addr(), "hook-tok", `{"id":"w1","type":"conversation.created","conversation":"C7"}`))
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("ACME1")).StatusCode)
	// Generous: the events go through the broker and a worker (CI: 2 cores, -race).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.ElementsMatch(c, []string{"C7/webhook", "ACME1/yaml", "ACME1/go"}, api.got())
	}, 20*time.Second, 20*time.Millisecond)
	assert.Empty(t, fake.Calls(), "no LiveChat call: the rules act on acme only")
}
