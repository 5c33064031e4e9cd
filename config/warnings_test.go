package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

const (
	wLiveChatSecrets = "livechat.webhook_secrets is empty: every LiveChat webhook will be rejected with 401; set it to the secret key you registered the webhook with"
	wLiveChatCreds   = "no LiveChat credentials (livechat.pat, livechat.token or livechat.oauth.refresh_token): workers cannot call the API, actions will fail and go to the dead-letter stream"
	wHelpCrunchKey   = "helpcrunch.signing_key is empty: every HelpCrunch webhook will be rejected with 401; set it to the webhook signing key from HelpCrunch's settings"
	wHelpCrunchAPI   = "helpcrunch.api_key is empty: workers cannot call the HelpCrunch API, its actions will fail and go to the dead-letter stream"
	wRocketHook      = "rocketchat.webhook_token is empty: every Rocket.Chat webhook will be rejected with 401; set it to the token of the outgoing webhook"
	wRocketCreds     = "no Rocket.Chat credentials (rocketchat.user_id and rocketchat.auth_token): workers cannot call the Rocket.Chat API, its actions will fail and go to the dead-letter stream"
	wDryRun          = "workers.dry_run is true: every rule only records what it would do; no action is taken"
)

func TestWarnings(t *testing.T) {
	liveChat := func(c *Config) {
		c.LiveChat.WebhookSecrets = []string{"s"}
		c.LiveChat.PAT = PAT{AccountID: "a", Token: "t"}
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		role   Role
		want   []string
	}{
		{"defaults", func(c *Config) {}, RoleAll, []string{wLiveChatSecrets, wLiveChatCreds}},
		{"defaults, receiver", func(c *Config) {}, RoleReceiver, []string{wLiveChatSecrets}},
		{"defaults, worker", func(c *Config) {}, RoleWorker, []string{wLiveChatCreds}},
		{"livechat complete", liveChat, RoleAll, nil},
		{"livechat token", func(c *Config) { c.LiveChat.WebhookSecrets = []string{"s"}; c.LiveChat.Token = "dal:x" }, RoleAll, nil},
		{"livechat organization credentials only", func(c *Config) {
			c.LiveChat.WebhookSecrets = []string{"s"}
			c.LiveChat.Organizations = map[string]Credentials{"o": {Token: "dal:x"}}
		}, RoleAll, nil},
		{"livechat secrets only", func(c *Config) { c.LiveChat.WebhookSecrets = []string{"s"} }, RoleAll, []string{wLiveChatCreds}},
		{"livechat over plain http", func(c *Config) { liveChat(c); c.LiveChat.APIURL = "http://livechat.internal" }, RoleAll,
			[]string{"livechat.api_url uses http, not https: the LiveChat token would cross the network unencrypted"}},
		{"livechat fake on loopback", func(c *Config) { liveChat(c); c.LiveChat.APIURL = "http://127.0.0.1:8123" }, RoleAll, nil},
		{"livechat fake on localhost", func(c *Config) { liveChat(c); c.LiveChat.APIURL = "http://localhost:8123" }, RoleAll, nil},
		{"only helpcrunch", func(c *Config) { c.HelpCrunch.APIKey, c.HelpCrunch.SigningKey = "k", "s" }, RoleAll, nil},
		{"helpcrunch without signing key", func(c *Config) { c.HelpCrunch.APIKey = "k" }, RoleAll, []string{wHelpCrunchKey}},
		{"helpcrunch without api key", func(c *Config) { c.HelpCrunch.SigningKey = "s" }, RoleAll, []string{wHelpCrunchAPI}},
		{"helpcrunch without api key, receiver", func(c *Config) { c.HelpCrunch.SigningKey = "s" }, RoleReceiver, nil},
		{"only rocketchat", func(c *Config) {
			c.RocketChat = RocketChat{URL: "https://chat.example.com", UserID: "u", AuthToken: "t", WebhookToken: "w"}
		}, RoleAll, nil},
		{"rocketchat webhook only", func(c *Config) { c.RocketChat.WebhookToken = "w" }, RoleAll, []string{wRocketCreds}},
		{"rocketchat webhook only, receiver", func(c *Config) { c.RocketChat.WebhookToken = "w" }, RoleReceiver, nil},
		{"rocketchat without webhook token", func(c *Config) {
			c.RocketChat = RocketChat{URL: "https://chat.example.com", UserID: "u", AuthToken: "t"}
		}, RoleAll, []string{wRocketHook}},
		{"rocketchat over plain http", func(c *Config) {
			c.RocketChat = RocketChat{URL: "http://chat.example.com", UserID: "u", AuthToken: "t", WebhookToken: "w"}
		}, RoleWorker, []string{"rocketchat.url uses http, not https: the Rocket.Chat token would cross the network unencrypted"}},
		{"livechat and rocketchat, livechat incomplete", func(c *Config) {
			c.LiveChat.WebhookSecrets = []string{"s"}
			c.RocketChat = RocketChat{URL: "https://chat.example.com", UserID: "u", AuthToken: "t", WebhookToken: "w"}
		}, RoleAll, []string{wLiveChatCreds}},
		{"dry run", func(c *Config) { liveChat(c); c.Workers.DryRun = true }, RoleAll, []string{wDryRun}},
		{"dry run, receiver", func(c *Config) { liveChat(c); c.Workers.DryRun = true }, RoleReceiver, nil},
		{"short admin token", func(c *Config) { liveChat(c); c.Admin.Token = "admin" }, RoleAll,
			[]string{"admin.token is shorter than 16 characters: use a long random token (e.g. openssl rand -hex 32)"}},
		{"long admin token", func(c *Config) { liveChat(c); c.Admin.Token = "0123456789abcdef" }, RoleAll, nil},
		{"write timeout not above body and publish timeouts", func(c *Config) { liveChat(c); c.HTTP.PublishTimeout = 25 * time.Second }, RoleAll,
			[]string{"http.write_timeout (30s) is not above http.body_timeout plus http.publish_timeout (30s): a webhook whose body and storing take that long is cut off without an answer, and its sender sends it again; raise http.write_timeout"}},
		{"write timeout not above body and publish timeouts, worker", func(c *Config) { liveChat(c); c.HTTP.PublishTimeout = 25 * time.Second }, RoleWorker, nil},
		{"write timeout just above body and publish timeouts", func(c *Config) {
			liveChat(c)
			c.HTTP.PublishTimeout, c.HTTP.WriteTimeout = 25*time.Second, 30*time.Second+time.Millisecond
		}, RoleAll, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(c)
			assert.NoError(t, c.Validate(), "warnings are about valid configs")
			assert.Equal(t, tt.want, c.WarningsFor(tt.role))
			if tt.role == RoleAll {
				assert.Equal(t, tt.want, c.Warnings())
			}
		})
	}
}
