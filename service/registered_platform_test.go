package service_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// acme is a fourth platform, registered the way an adapter package does
// it (see docs/platforms.md); its one action records what it was asked.
var acme struct {
	mu    sync.Mutex
	pings []string // "chat/note"
}

// AcmePingParams are acme.ping's parameters.
type AcmePingParams struct {
	Note string `json:"note"`
}

func init() {
	platform.Register(platform.Platform{Name: "acme", Title: "Acme Chat", Actions: func() []rules.Action {
		return []rules.Action{rules.Define("acme.ping", "Record a ping.", true,
			func(_ context.Context, c *rules.Call, p AcmePingParams) error {
				acme.mu.Lock()
				defer acme.mu.Unlock()
				acme.pings = append(acme.pings, c.ChatID()+"/"+p.Note)
				return nil
			})}
	}})
	// A Go handler reaches the platform's action through c.Do.
	rules.MustRegister("service_test_acme_via_go", rules.RuleFunc(func(ctx context.Context, c *rules.Call) error {
		return c.Do(ctx, "acme.ping", AcmePingParams{Note: "go"})
	}))
}

func acmePings() []string {
	acme.mu.Lock()
	defer acme.mu.Unlock()
	return slices.Clone(acme.pings)
}

// TestRegisteredPlatformActsEndToEnd: a platform registered with package
// platform, and nothing else, can be used by a rule file's steps and by a
// Go handler's c.Do in a running service (without the registry wiring,
// serve refuses the rule file: unknown action "acme.ping").
func TestRegisteredPlatformActsEndToEnd(t *testing.T) {
	fake, url := startFake(t)
	cfg := testConfig(t, url, "")
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
`)
	svc := start(t, cfg, both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("ACME1")).StatusCode)
	// Generous: the event goes through the broker and a worker (CI: 2 cores, -race).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.ElementsMatch(c, []string{"ACME1/yaml", "ACME1/go"}, acmePings())
	}, 20*time.Second, 20*time.Millisecond)
	assert.Empty(t, fake.Calls(), "no LiveChat call: the rules act on acme only")
}
