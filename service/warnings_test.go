package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/service"
)

// TestStartupWarningsOnceAndOnlyForWhatIsConfigured: a LiveChat-only setup
// logs no HelpCrunch or Rocket.Chat warning, and every warning it logs at
// start appears once (the empty-secret one used to come from the config and
// from the handler).
func TestStartupWarningsOnceAndOnlyForWhatIsConfigured(t *testing.T) {
	_, apiURL := startFake(t)
	tests := []struct {
		name   string
		modify func(c *config.Config)
		want   []string // warnings expected, each exactly once
	}{
		{name: "livechat complete", modify: func(*config.Config) {}},
		{name: "livechat without webhook secrets", modify: func(c *config.Config) { c.LiveChat.WebhookSecrets = nil },
			want: []string{"livechat.webhook_secrets is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, apiURL, "")
			tt.modify(cfg)
			core, logs := observer.New(zapcore.WarnLevel)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			svc, err := service.Start(ctx, cfg, both, service.WithLogger(zap.New(core)))
			require.NoError(t, err)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = svc.Stop(ctx)
			})
			seen := map[string]int{}
			for _, e := range logs.All() {
				seen[e.Message]++
				lower := strings.ToLower(e.Message)
				assert.NotContains(t, lower, "helpcrunch", "HelpCrunch is not configured")
				assert.NotContains(t, lower, "rocket", "Rocket.Chat is not configured")
			}
			for msg, n := range seen {
				assert.Equal(t, 1, n, "logged %d times: %s", n, msg)
			}
			for _, w := range tt.want {
				n := 0
				for msg := range seen {
					if strings.Contains(msg, w) {
						n++
					}
				}
				assert.Equal(t, 1, n, "one warning containing %q among %v", w, seen)
			}
		})
	}
}
