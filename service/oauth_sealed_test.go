package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/livechat/oauth/oauthtest"
	"github.com/chatwarden/chatwarden/service"
)

// testSecretsKey is base64 of 32 bytes.
const testSecretsKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// With secrets.keys, the tokens the workers renew are stored encrypted: the
// raw bucket value, read as anyone with broker access could, holds neither.
func TestOAuthTokensAreEncryptedAtRest(t *testing.T) {
	acc := oauthtest.New("client-1", "secret-1", "refresh-0")
	accURL, stopAcc := acc.Start()
	defer stopAcc()
	fake, apiURL := oauthAPI(t, acc)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	nats := bustest.Start(t)
	cfg := oauthConfig(t, apiURL, accURL, nats.URL())
	cfg.Secrets.Keys = []config.SecretKey{{ID: "k1", Key: testSecretsKey}}
	mustValidate(t, cfg)

	svc := start(t, cfg, servicesRoles(true, true))
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)

	kv := oauthKV(t, nats.URL())
	keys, err := kv.Keys(context.Background())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	e, err := kv.Get(context.Background(), keys[0])
	require.NoError(t, err)
	raw := string(e.Value())
	assert.True(t, strings.HasPrefix(raw, "cw1:k1:"), "sealed under key k1: %q", raw)
	assert.NotContains(t, raw, acc.Latest(), "no access token in the bucket")
	assert.NotContains(t, raw, "refresh-1", "no refresh token in the bucket")
	assert.NotContains(t, raw, "refresh_token")
}

// Without secrets.keys, opening the OAuth bucket logs one warning saying what
// a reader of the bucket can do; with keys, or without OAuth, none.
func TestClearTokensWarning(t *testing.T) {
	srv := bustest.Start(t)
	_, js := srv.Connect(t)

	for _, tc := range []struct {
		name  string
		setup func(c *config.Config)
		want  int
	}{
		{"oauth without keys", func(c *config.Config) {
			c.LiveChat.OAuth = config.OAuth{ClientID: "client-1", ClientSecret: "s", RefreshToken: "r", AccountsURL: config.DefaultAccountsURL}
		}, 1},
		{"an organization's oauth without keys", func(c *config.Config) {
			c.LiveChat.OAuth = config.OAuth{ClientID: "client-1", ClientSecret: "s", AccountsURL: config.DefaultAccountsURL}
			c.LiveChat.Organizations = map[string]config.Credentials{"org-1": {RefreshToken: "r"}}
		}, 1},
		{"oauth with keys", func(c *config.Config) {
			c.LiveChat.OAuth = config.OAuth{ClientID: "client-1", ClientSecret: "s", RefreshToken: "r", AccountsURL: config.DefaultAccountsURL}
			c.Secrets.Keys = []config.SecretKey{{ID: "k1", Key: testSecretsKey}}
		}, 0},
		{"no oauth (a personal access token)", func(c *config.Config) {
			c.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "pat"}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.setup(cfg)
			mustValidate(t, cfg)
			core, logs := observer.New(zapcore.InfoLevel)
			_, err := service.NewClients(context.Background(), cfg, js, nil, zap.New(core))
			require.NoError(t, err)
			warned := logs.FilterMessage(service.ClearTokensWarning)
			assert.Equal(t, tc.want, warned.Len(), "logs: %v", logs.All())
			for _, e := range warned.All() {
				assert.Equal(t, zapcore.WarnLevel, e.Level)
			}
			assert.Contains(t, service.ClearTokensWarning, "CHATWARDEN_OAUTH holds OAuth refresh tokens in clear")
			assert.Contains(t, service.ClearTokensWarning, "anyone who can read the NATS bucket can act as the app")
			assert.Contains(t, service.ClearTokensWarning, "set secrets.keys")
		})
	}
}
