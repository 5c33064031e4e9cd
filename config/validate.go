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

	"github.com/chatwarden/chatwarden/internal/sealed"
)

// Validate reports every problem of c, joined with errors.Join; each is a
// *FieldError wrapping ErrInvalid and naming the key, e.g.
// "nats.partitions: must be between 1 and 1024, got 0". It checks ranges,
// that durations are positive, that addresses are host:port and URLs
// http(s), and that settings that go together are given together (a PAT
// needs account_id and token; livechat.pat and livechat.token exclude each
// other). Validate does not apply defaults: a zero setting that has one is
// an error here; use Default or ApplyDefaults first.
func (c *Config) Validate() error {
	v := &validator{}

	v.hostPort("http.addr", c.HTTP.Addr, `":8080" or "127.0.0.1:8080"`)
	if c.HTTP.MaxBodyBytes < MinMaxBodyBytes {
		v.add("http.max_body_bytes", "must be at least %d, got %d", MinMaxBodyBytes, c.HTTP.MaxBodyBytes)
	}
	v.positive("http.publish_timeout", c.HTTP.PublishTimeout)
	v.positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	v.positive("http.header_timeout", c.HTTP.HeaderTimeout)
	v.positive("http.body_timeout", c.HTTP.BodyTimeout)
	if c.HTTP.MaxConnsPerIP < 1 {
		v.add("http.max_conns_per_ip", "must be at least 1, got %d", c.HTTP.MaxConnsPerIP)
	}
	if c.HTTP.MaxConns < 1 {
		v.add("http.max_conns", "must be at least 1, got %d", c.HTTP.MaxConns)
	}
	if c.HTTP.MaxInflightPerIP < 1 {
		v.add("http.max_inflight_per_ip", "must be at least 1, got %d", c.HTTP.MaxInflightPerIP)
	}
	for i, s := range c.HTTP.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			v.add(fmt.Sprintf("http.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8 or an IP address, got %q", s)
		}
	}
	if c.OTel.SampleRatio < 0 || c.OTel.SampleRatio > 1 {
		v.add("otel.sample_ratio", "must be between 0 and 1, got %g", c.OTel.SampleRatio)
	}
	if c.OTel.Endpoint != "" {
		if u, err := url.Parse(c.OTel.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("otel.endpoint", "must be an http(s) URL such as http://otel-collector:4318, got %q", c.OTel.Endpoint)
		}
	}
	if c.HTTP.MaxInflight < 1 {
		v.add("http.max_inflight", "must be at least 1, got %d", c.HTTP.MaxInflight)
	}
	if c.HTTP.MaxMemoryBytes != 0 && c.HTTP.MaxMemoryBytes < MinMemoryBudget {
		v.add("http.max_memory_bytes", "must be 0 (no budget) or at least %d (64 MiB), got %d", MinMemoryBudget, c.HTTP.MaxMemoryBytes)
	}
	if c.HTTP.MaxInflightBytes < c.HTTP.MaxBodyBytes {
		v.add("http.max_inflight_bytes", "must be at least http.max_body_bytes (%d), got %d", c.HTTP.MaxBodyBytes, c.HTTP.MaxInflightBytes)
	}

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

	v.between("workers.concurrency", c.Workers.Concurrency, 1, MaxConcurrency)
	v.between("workers.max_attempts", c.Workers.MaxAttempts, 1, MaxMaxAttempts)
	v.between("workers.max_pending_rechecks", c.Workers.MaxPendingRechecks, 1, MaxMaxPendingRechecks)
	v.positive("workers.handler_timeout", c.Workers.HandlerTimeout)
	v.positive("workers.ack_wait", c.Workers.AckWait)
	if c.Workers.FailoverAfter < 5*time.Second {
		v.add("workers.failover_after", "must be at least 5s, got %s", c.Workers.FailoverAfter)
	} else if c.Workers.FailoverAfter < c.Workers.AckWait {
		v.add("workers.failover_after", "must be at least workers.ack_wait (%s), got %s: a replica taking over a partition would otherwise run a chat's later events before the earlier ones the dead replica held are redelivered",
			c.Workers.AckWait, c.Workers.FailoverAfter)
	}
	v.positive("workers.backoff_base", c.Workers.BackoffBase)
	v.positive("workers.backoff_max", c.Workers.BackoffMax)
	if c.Workers.BackoffBase > 0 && c.Workers.BackoffMax > 0 && c.Workers.BackoffMax < c.Workers.BackoffBase {
		v.add("workers.backoff_max", "must be at least workers.backoff_base (%s), got %s", c.Workers.BackoffBase, c.Workers.BackoffMax)
	}

	c.Sweep.validate(v)

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "console")

	v.positive("breaker.window", c.Breaker.Window)
	v.between("breaker.min_calls", c.Breaker.MinCalls, 1, MaxBreakerCalls)
	if c.Breaker.FailureRatio <= 0 || c.Breaker.FailureRatio > 1 {
		v.add("breaker.failure_ratio", "must be over 0 and at most 1, got %g", c.Breaker.FailureRatio)
	}
	v.between("breaker.consecutive_failures", c.Breaker.ConsecutiveFailures, 1, MaxBreakerCalls)
	v.positive("breaker.probe_interval", c.Breaker.ProbeInterval)
	v.positive("breaker.probe_max", c.Breaker.ProbeMax)
	if c.Breaker.ProbeInterval > 0 && c.Breaker.ProbeMax > 0 && c.Breaker.ProbeMax < c.Breaker.ProbeInterval {
		v.add("breaker.probe_max", "must be at least breaker.probe_interval (%s), got %s", c.Breaker.ProbeInterval, c.Breaker.ProbeMax)
	}
	v.between("dlq.auto_retry_max", c.DLQ.AutoRetryMax, 1, MaxDLQAutoRetryMax)
	c.validateSections(v)

	return errors.Join(v.errs...)
}

func (a *Admin) validate(v *validator) {
	if a.Addr == AdminOff {
		return
	}
	v.hostPort("admin.addr", a.Addr, `"127.0.0.1:9090"`)
	if _, _, err := net.SplitHostPort(a.Addr); err == nil && a.Token == "" && !IsLoopbackAddr(a.Addr) {
		v.add("admin.token", "required when admin.addr (%q) is not a loopback address: the admin API, console, metrics and profiler would face the network with no token; set admin.token (e.g. token: \"${CHATWARDEN_ADMIN_TOKEN}\", openssl rand -hex 32) or listen on 127.0.0.1", a.Addr)
	}
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

func (s *Sweep) validate(v *validator) {
	if s.Schedule != "" {
		if err := CheckSchedule(s.Schedule); err != nil {
			v.add("sweep.schedule", "%v", err)
		}
	}
	v.positive("sweep.older_than", s.OlderThan)
	if len(s.Groups) > MaxSweepGroups {
		v.add("sweep.groups", "must list at most %d groups, got %d", MaxSweepGroups, len(s.Groups))
	}
	for i, g := range s.Groups {
		if g < 0 {
			v.add(fmt.Sprintf("sweep.groups[%d]", i), "must be a group id (0 or more), got %d", g)
		}
	}
	if s.Limit < 0 {
		v.add("sweep.limit", "must be 0 (no cap) or more, got %d", s.Limit)
	}
	v.between("sweep.concurrency", s.Concurrency, 1, MaxConcurrency)
	if s.MaxRate < 0 || math.IsNaN(s.MaxRate) || math.IsInf(s.MaxRate, 0) {
		v.add("sweep.max_rate", "must be 0 (no cap) or a positive number of chats per second, got %v", s.MaxRate)
	}
	v.positive("sweep.wait", s.Wait)
}

// CheckSchedule checks a sweep schedule as JetStream message schedules
// accept it: "@every <duration>" of at least 1s, one of @yearly, @annually,
// @monthly, @weekly, @daily, @midnight, @hourly, or a cron expression of 6
// fields (second minute hour day-of-month month day-of-week). The fields of
// a cron expression are checked by the server when the schedule is stored.
func CheckSchedule(s string) error {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return fmt.Errorf(`"@every" needs a duration such as 30m or 1h, got %q`, rest)
		}
		if d < time.Second {
			return fmt.Errorf(`"@every" needs at least 1s, got %s`, d)
		}
		return nil
	}
	switch s {
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		return nil
	}
	if strings.HasPrefix(s, "@") {
		return fmt.Errorf(`unknown schedule %q: use "@every 1h", @hourly, @daily, @weekly, @monthly, @yearly or a 6-field cron expression`, s)
	}
	if n := len(strings.Fields(s)); n != 6 {
		return fmt.Errorf(`a cron expression needs 6 fields (second minute hour day-of-month month day-of-week, e.g. "0 0 * * * *"), got %d in %q`, n, s)
	}
	return nil
}

func (n *NATS) validate(v *validator) {
	if n.URL != "" {
		for u := range strings.SplitSeq(n.URL, ",") {
			v.natsURL("nats.url", strings.TrimSpace(u))
		}
	}
	if n.Listen != ListenOff {
		if n.Listen == "" {
			v.add("nats.listen", `must be host:port or "off"`)
		} else {
			v.hostPort("nats.listen", n.Listen, `"127.0.0.1:4222"`)
		}
	}
	if n.Embedded() && n.DataDir == "" {
		v.add("nats.data_dir", "must be set when nats.url is empty (embedded server)")
	}
	if _, _, err := net.SplitHostPort(n.Listen); err == nil && n.Embedded() && !IsLoopbackAddr(n.Listen) && n.User == "" && n.Token == "" {
		v.add("nats.listen", "%s is not a loopback address: set nats.user and nats.password (or nats.token) so the embedded broker is not open to the network, or listen on 127.0.0.1", n.Listen)
	}
	v.between("nats.partitions", n.Partitions, 1, MaxPartitions)
	v.between("nats.replicas", n.Replicas, 1, MaxReplicas)
	if n.Embedded() && n.Replicas > 1 {
		v.add("nats.replicas", "must be 1 with the embedded server (nats.url empty), got %d; replicas need a NATS cluster", n.Replicas)
	}
	v.positive("nats.duplicate_window", n.DuplicateWindow)
	v.positive("nats.retention", n.Retention)
	if n.DuplicateWindow > 0 && n.Retention > 0 && n.DuplicateWindow > n.Retention {
		v.add("nats.duplicate_window", "must not exceed nats.retention (%s), got %s", n.Retention, n.DuplicateWindow)
	}
	if n.Password != "" && n.User == "" {
		v.add("nats.password", "set without nats.user")
	}
	var methods []string
	for key, set := range map[string]bool{"nats.creds_file": n.CredsFile != "", "nats.user": n.User != "", "nats.token": n.Token != ""} {
		if set {
			methods = append(methods, key)
		}
	}
	if len(methods) > 1 {
		slices.Sort(methods)
		v.add(methods[0], "conflicts with %s: use one way to authenticate", strings.Join(methods[1:], " and "))
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		if n.TLS.CertFile == "" {
			v.add("nats.tls.cert_file", "required with nats.tls.key_file")
		} else {
			v.add("nats.tls.key_file", "required with nats.tls.cert_file")
		}
	}
	if n.Name == "" {
		v.add("nats.name", "must be set")
	}
	if n.MaxFileStoreBytes < 0 || (n.MaxFileStoreBytes > 0 && n.MaxFileStoreBytes < MinMaxFileStore) {
		v.add("nats.max_file_store_bytes", "must be 0 (JetStream's default: 75%% of the free disk at start) or at least %d (1 MiB), got %d",
			MinMaxFileStore, n.MaxFileStoreBytes)
	}
	if n.MinFreeDiskBytes < 0 {
		v.add("nats.min_free_disk_bytes", "must not be negative (default %d, 256 MiB), got %d", DefaultMinFreeDisk, n.MinFreeDiskBytes)
	}
}

func (s *Secrets) validate(v *validator) {
	seen := map[string]int{}
	for i, k := range s.Keys {
		idKey, keyKey := fmt.Sprintf("secrets.keys[%d].id", i), fmt.Sprintf("secrets.keys[%d].key", i)
		switch j, dup := seen[k.ID]; {
		case k.ID == "":
			v.add(idKey, "required: a short name stored with every value the key encrypts, e.g. \"k1\"")
		case sealed.CheckID(k.ID) != nil:
			v.add(idKey, "%v", sealed.CheckID(k.ID))
		case dup:
			v.add(idKey, "%q is also the id of secrets.keys[%d]: every key needs its own id", k.ID, j)
		default:
			seen[k.ID] = i
		}
		if _, err := sealed.DecodeKey(k.Key); err != nil {
			v.add(keyKey, "key %q: %v", k.ID, err)
		}
	}
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
