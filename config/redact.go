package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Redacted returns a deep copy of c that is safe to print or log: every
// secret that is set (admin.token, nats.password, nats.token,
// livechat.webhook_secrets, tokens of livechat.pat, livechat.token,
// livechat.oauth (client_secret, refresh_token) and livechat.organizations, helpcrunch.api_key and signing_key,
// rocketchat.auth_token and webhook_token, the key of each secrets.keys
// entry) is replaced by "REDACTED", and so
// are credentials inside URLs. Unset secrets stay "", so the copy still shows
// what is missing. Identifiers (account ids, user names, paths, key ids) are
// kept.
func (c *Config) Redacted() *Config {
	r := *c
	redact(&r.Admin.Token)

	r.NATS.URL = redactURLList(r.NATS.URL)
	redact(&r.NATS.Password)
	redact(&r.NATS.Token)

	r.LiveChat.APIURL = redactURL(r.LiveChat.APIURL)
	r.LiveChat.WebhookSecrets = slices.Clone(r.LiveChat.WebhookSecrets)
	for i := range r.LiveChat.WebhookSecrets {
		redact(&r.LiveChat.WebhookSecrets[i])
	}
	redact(&r.LiveChat.PAT.Token)
	redact(&r.LiveChat.Token)
	redact(&r.LiveChat.OAuth.ClientSecret)
	redact(&r.LiveChat.OAuth.RefreshToken)
	r.LiveChat.OAuth.AccountsURL = redactURL(r.LiveChat.OAuth.AccountsURL)
	r.LiveChat.Organizations = maps.Clone(r.LiveChat.Organizations)
	for org, cred := range r.LiveChat.Organizations {
		redact(&cred.PAT.Token)
		redact(&cred.Token)
		redact(&cred.RefreshToken)
		r.LiveChat.Organizations[org] = cred
	}

	r.HelpCrunch.APIURL = redactURL(r.HelpCrunch.APIURL)
	redact(&r.HelpCrunch.APIKey)
	redact(&r.HelpCrunch.SigningKey)

	r.RocketChat.URL = redactURL(r.RocketChat.URL)
	redact(&r.RocketChat.AuthToken)
	redact(&r.RocketChat.WebhookToken)

	r.Sweep.Groups = slices.Clone(r.Sweep.Groups)

	r.Secrets.Keys = slices.Clone(r.Secrets.Keys)
	for i := range r.Secrets.Keys {
		redact(&r.Secrets.Keys[i].Key)
	}
	r.Platforms = redactSections(r.Platforms)
	return &r
}

func redact(s *string) {
	if *s != "" {
		*s = RedactedValue
	}
}

func redactURLList(s string) string {
	if !strings.Contains(s, ",") {
		return redactURL(s)
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = redactURL(p)
	}
	return strings.Join(parts, ",")
}

// redactURL replaces the user information of a URL (user:password, or a
// token as the user) with REDACTED.
func redactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		// Unparseable but possibly holding credentials: hide it whole.
		return RedactedValue
	}
	if u.User == nil {
		return s // the @ is elsewhere, e.g. in the path
	}
	if name := u.User.Username(); name != "" {
		if _, hasPassword := u.User.Password(); hasPassword {
			u.User = url.UserPassword(name, RedactedValue)
			return u.String()
		}
	}
	u.User = url.User(RedactedValue)
	return u.String()
}
