package config

import (
	"fmt"
	"net"
	"net/url"
)

// Role is what a process does, for WarningsFor; combine with |.
type Role uint8

const (
	// RoleReceiver receives webhooks (serve, receive).
	RoleReceiver Role = 1 << iota
	// RoleWorker applies rules through the platforms' APIs (serve, work).
	RoleWorker
	// RoleAll is both, as `serve` runs.
	RoleAll = RoleReceiver | RoleWorker
)

// Warnings returns, in plain words for the operator, what is missing for
// the service to be useful: settings whose absence makes every webhook of a
// platform fail, or every action. A valid config with warnings still runs.
// It is WarningsFor(RoleAll).
func (c *Config) Warnings() []string { return c.WarningsFor(RoleAll) }

// WarningsFor is Warnings limited to what the given roles need: a `receive`
// process needs webhook secrets, not API credentials; a `work` process the
// other way round.
//
// Platforms are judged separately. LiveChat is expected unless another
// platform is configured and LiveChat has no settings at all; HelpCrunch and
// Rocket.Chat only once one of their settings is given.
func (c *Config) WarningsFor(r Role) []string {
	var w []string
	add := func(format string, args ...any) { w = append(w, fmt.Sprintf(format, args...)) }
	recv, work := r&RoleReceiver != 0, r&RoleWorker != 0

	lc := c.LiveChat
	hc := c.HelpCrunch.APIKey != "" || c.HelpCrunch.SigningKey != ""
	// A request timeout alone (it has a default) does not configure Rocket.Chat.
	rc := c.RocketChat != RocketChat{RequestTimeout: c.RocketChat.RequestTimeout}
	lcUsed := len(lc.WebhookSecrets) > 0 || lc.HasCredentials() || !(hc || rc)
	if lcUsed {
		if recv && len(lc.WebhookSecrets) == 0 {
			add("livechat.webhook_secrets is empty: every LiveChat webhook will be rejected with 401; set it to the secret key you registered the webhook with")
		}
		if work && !lc.HasCredentials() {
			add("no LiveChat credentials (livechat.pat, livechat.token or livechat.oauth.refresh_token): workers cannot call the API, actions will fail and go to the dead-letter stream")
		}
		if work {
			insecureURL(add, "livechat.api_url", lc.APIURL, "the LiveChat token")
			if lc.OAuth.ClientSecret != "" {
				insecureURL(add, "livechat.oauth.accounts_url", lc.OAuth.AccountsURL, "the OAuth client secret and refresh token")
			}
		}
	}

	if hc {
		if recv && c.HelpCrunch.SigningKey == "" {
			add("helpcrunch.signing_key is empty: every HelpCrunch webhook will be rejected with 401; set it to the webhook signing key from HelpCrunch's settings")
		}
		if work && c.HelpCrunch.APIKey == "" {
			add("helpcrunch.api_key is empty: workers cannot call the HelpCrunch API, its actions will fail and go to the dead-letter stream")
		}
		if work {
			insecureURL(add, "helpcrunch.api_url", c.HelpCrunch.APIURL, "the HelpCrunch API key")
		}
	}

	if rc {
		if recv && c.RocketChat.WebhookToken == "" {
			add("rocketchat.webhook_token is empty: every Rocket.Chat webhook will be rejected with 401; set it to the token of the outgoing webhook")
		}
		if work && c.RocketChat.AuthToken == "" {
			add("no Rocket.Chat credentials (rocketchat.user_id and rocketchat.auth_token): workers cannot call the Rocket.Chat API, its actions will fail and go to the dead-letter stream")
		}
		if work && c.RocketChat.URL != "" {
			insecureURL(add, "rocketchat.url", c.RocketChat.URL, "the Rocket.Chat token")
		}
	}

	if work && c.Breaker.ConsecutiveFailures >= c.Workers.MaxAttempts {
		add("breaker.consecutive_failures (%d) is not below workers.max_attempts (%d): an event failing alone during an outage runs out of attempts before its platform's circuit breaker opens, and is dead-lettered instead of waiting (it is retried by itself only when a breaker later closes); lower breaker.consecutive_failures",
			c.Breaker.ConsecutiveFailures, c.Workers.MaxAttempts)
	}
	if work && c.Workers.DryRun {
		add("workers.dry_run is true: every rule only records what it would do; no action is taken")
	}
	if need := c.HTTP.BodyTimeout + c.HTTP.PublishTimeout; recv && c.HTTP.WriteTimeout <= need {
		add("http.write_timeout (%s) is not above http.body_timeout plus http.publish_timeout (%s): a webhook whose body and storing take that long is cut off without an answer, and its sender sends it again; raise http.write_timeout",
			c.HTTP.WriteTimeout, need)
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < minAdminTokenLen {
		add("admin.token is shorter than %d characters: use a long random token (e.g. openssl rand -hex 32)", minAdminTokenLen)
	}
	return append(w, c.moved...)
}

const minAdminTokenLen = 16

// insecureURL warns about a plain-http URL to a host other than loopback:
// credentials would cross the network unencrypted.
func insecureURL(add func(string, ...any), key, s, what string) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" {
		return
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return
	}
	add("%s uses http, not https: %s would cross the network unencrypted", key, what)
}
