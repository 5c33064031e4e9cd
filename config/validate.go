package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate reports every problem of c, joined with errors.Join; each is a
// *FieldError wrapping ErrInvalid and naming the key, e.g.
// "nats.partitions: must be between 1 and 1024, got 0". It checks ranges,
// that durations are positive, that addresses are host:port and URLs
// http(s), and that settings that go together are given together (a PAT
// needs account_id and token; livechat.pat and livechat.token exclude each
// other). Each section's own checks are its Validate's (HTTP.Validate,
// NATS.Validate, ...), run here in the order of the sections; the checks
// across sections follow. Validate does not apply defaults: a zero setting
// that has one is an error here; use Default or Provision first.
func (c *Config) Validate() error {
	v := &validator{}

	c.HTTP.validate(v)
	c.OTel.validate(v)
	c.Admin.validate(v)
	c.NATS.validate(v)
	c.LiveChat.validate(v)
	c.Secrets.validate(v)

	v.httpURL("helpcrunch.api_url", c.HelpCrunch.APIURL, true)
	v.positive("helpcrunch.max_age", c.HelpCrunch.MaxAge)
	v.rate("helpcrunch.max_rate", c.HelpCrunch.MaxRate, false)
	v.rate("rocketchat.max_rate", c.RocketChat.MaxRate, true)
	for key, d := range map[string]time.Duration{
		"helpcrunch.request_timeout": c.HelpCrunch.RequestTimeout, "rocketchat.request_timeout": c.RocketChat.RequestTimeout,
	} {
		if d < 0 {
			v.add(key, "must be a positive duration, or 0 for livechat.request_timeout, got %s", d)
		}
	}
	if need := c.HelpCrunch.MaxAge + HelpCrunchClockSkew; c.HelpCrunch.SigningKey != "" && c.HelpCrunch.MaxAge > 0 &&
		c.NATS.DuplicateWindow > 0 && c.NATS.DuplicateWindow < need {
		v.add("nats.duplicate_window", "must be at least helpcrunch.max_age (%s) plus %s of clock skew, %s, when HelpCrunch webhooks are received (helpcrunch.signing_key set), "+
			"or a replayed delivery could be stored twice; got %s", c.HelpCrunch.MaxAge, HelpCrunchClockSkew, need, c.NATS.DuplicateWindow)
	}

	if c.RocketChat.URL != "" {
		v.httpURL("rocketchat.url", c.RocketChat.URL, true)
	}
	if (c.RocketChat.UserID == "") != (c.RocketChat.AuthToken == "") {
		if c.RocketChat.UserID == "" {
			v.add("rocketchat.user_id", "required with rocketchat.auth_token")
		} else {
			v.add("rocketchat.auth_token", "required with rocketchat.user_id")
		}
	}
	if c.RocketChat.URL == "" && (c.RocketChat.UserID != "" || c.RocketChat.AuthToken != "") {
		v.add("rocketchat.url", "required with rocketchat.user_id and rocketchat.auth_token")
	}

	c.Workers.validate(v)
	c.Sweep.validate(v)
	c.Log.validate(v)
	c.Breaker.validate(v)
	c.DLQ.validate(v)
	c.validateSections(v)

	return errors.Join(v.errs...)
}

// IsLoopbackAddr reports whether host:port addr listens on loopback only:
// its host is "localhost" or a loopback IP. An empty host (every
// interface) is not loopback.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *LiveChat) validate(v *validator) {
	v.httpURL("livechat.api_url", l.APIURL, true)
	for i, s := range l.WebhookSecrets {
		if s == "" {
			v.add(fmt.Sprintf("livechat.webhook_secrets[%d]", i), "must not be empty (an empty secret would match webhooks that carry none)")
		}
	}
	v.httpURL("livechat.oauth.accounts_url", l.OAuth.AccountsURL, true)
	if (l.OAuth.ClientID == "") != (l.OAuth.ClientSecret == "") {
		if l.OAuth.ClientID == "" {
			v.add("livechat.oauth.client_id", "required with livechat.oauth.client_secret")
		} else {
			v.add("livechat.oauth.client_secret", "required with livechat.oauth.client_id")
		}
	}
	oauthApp := l.OAuth.ClientID != "" && l.OAuth.ClientSecret != ""
	if l.OAuth.RefreshToken != "" && !oauthApp {
		v.add("livechat.oauth.refresh_token", "needs livechat.oauth.client_id and livechat.oauth.client_secret to renew access tokens")
	}
	validateCredentials(v, "livechat", l.DefaultCredentials(), false)
	orgs := make([]string, 0, len(l.Organizations))
	for org := range l.Organizations {
		orgs = append(orgs, org)
	}
	slices.Sort(orgs)
	for _, org := range orgs {
		key := "livechat.organizations." + org
		if strings.TrimSpace(org) == "" {
			v.add("livechat.organizations", "has an entry with an empty organization id")
			continue
		}
		validateCredentials(v, key, l.Organizations[org], true)
		if l.Organizations[org].RefreshToken != "" && !oauthApp {
			v.add(key+".refresh_token", "needs livechat.oauth.client_id and livechat.oauth.client_secret to renew access tokens")
		}
	}
	v.positive("livechat.request_timeout", l.RequestTimeout)
	v.rate("livechat.max_rate", l.MaxRate, true)
	v.rate("livechat.initial_rate", l.InitialRate, false)
	for _, org := range orgs {
		key := "livechat.organizations." + org
		v.rate(key+".max_rate", l.Organizations[org].MaxRate, true)
		v.rate(key+".initial_rate", l.Organizations[org].InitialRate, true)
	}
}

// rate checks a rate in requests a second: a finite positive number, or
// 0 where zeroOK (none, or inherited).
func (v *validator) rate(key string, r float64, zeroOK bool) {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		v.add(key, "must be a finite number of requests a second, got %v", r)
	case r < 0 || r == 0 && !zeroOK:
		v.add(key, "must be a positive number of requests a second%s, got %v", map[bool]string{true: " (or 0: none)", false: ""}[zeroOK], r)
	case r > 100000:
		v.add(key, "must be at most 100000 requests a second, got %v", r)
	}
}

func validateCredentials(v *validator, prefix string, c Credentials, required bool) {
	refreshKey := prefix + ".refresh_token"
	if prefix == "livechat" {
		refreshKey = "livechat.oauth.refresh_token"
	}
	switch {
	case !c.PAT.IsZero() && c.Token != "":
		v.add(prefix+".token", "set together with %s.pat: use one of them", prefix)
	case c.RefreshToken != "" && (!c.PAT.IsZero() || c.Token != ""):
		v.add(refreshKey, "set together with %s.pat or %s.token: use one of them", prefix, prefix)
	case c.PAT.AccountID != "" && c.PAT.Token == "":
		v.add(prefix+".pat.token", "required with %s.pat.account_id", prefix)
	case c.PAT.AccountID == "" && c.PAT.Token != "":
		v.add(prefix+".pat.account_id", "required with %s.pat.token (the id of the account that created the token)", prefix)
	case required && c.IsZero():
		v.add(prefix, "needs pat (account_id and token), token or refresh_token")
	}
}

// validator collects problems.
type validator struct{ errs []error }

// validateWith runs a section's checks alone: its problems joined, nil
// when there is none.
func validateWith(check func(*validator)) error {
	v := &validator{}
	check(v)
	return errors.Join(v.errs...)
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fieldErr(key, 0, ErrInvalid, format, args...))
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, "must be a positive duration, got %s", d)
	}
}

func (v *validator) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "must be between %d and %d, got %d", lo, hi, n)
	}
}

func (v *validator) oneOf(key, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), s)
	}
}

// hostPort checks a host:port address; example is the hint shown when it is
// not one, fitting the key (an HTTP listener, the broker's port, a NATS URL).
func (v *validator) hostPort(key, addr, example string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "must be host:port, e.g. %s, got %q", example, addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(key, "port must be a number from 0 to 65535, got %q", port)
	}
}

// httpURL checks an absolute http or https URL. The URL is not quoted in the
// message: it may carry credentials.
func (v *validator) httpURL(key, s string, required bool) {
	if s == "" {
		if required {
			v.add(key, "must be set")
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an http:// or https:// URL with a host, e.g. https://example.com")
	}
}

func (v *validator) natsURL(key, s string) {
	if s == "" {
		v.add(key, "has an empty entry in its comma-separated list")
		return
	}
	if !strings.Contains(s, "://") {
		v.hostPort(key, s, "nats://127.0.0.1:4222 (several separated by commas)")
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		v.add(key, "must be a URL like nats://host:4222 (several separated by commas)")
		return
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		v.add(key, "scheme must be nats, tls, ws or wss, got %q", u.Scheme)
	}
}
