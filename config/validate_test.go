package config

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		// want are the messages of the problems, in order; none: valid.
		want []string
	}{
		{"defaults", func(c *Config) {}, nil},

		// http
		{"addr without port", func(c *Config) { c.HTTP.Addr = "localhost" },
			[]string{`http.addr: must be host:port, e.g. ":8080" or "127.0.0.1:8080", got "localhost"`}},
		{"addr with bad port", func(c *Config) { c.HTTP.Addr = ":http" },
			[]string{`http.addr: port must be a number from 0 to 65535, got "http"`}},
		{"addr port too large", func(c *Config) { c.HTTP.Addr = ":70000" },
			[]string{`http.addr: port must be a number from 0 to 65535, got "70000"`}},
		{"addr random port", func(c *Config) { c.HTTP.Addr = "127.0.0.1:0" }, nil},
		{"connection caps below 1", func(c *Config) { c.HTTP.MaxConnsPerIP, c.HTTP.MaxInflightPerIP, c.HTTP.MaxConns = 0, -1, 0 },
			[]string{`http.max_conns_per_ip: must be at least 1, got 0`, `http.max_conns: must be at least 1, got 0`,
				`http.max_inflight_per_ip: must be at least 1, got -1`}},
		{"deadlines not positive", func(c *Config) { c.HTTP.HeaderTimeout, c.HTTP.BodyTimeout = 0, -time.Second },
			[]string{`http.header_timeout: must be a positive duration, got 0s`, `http.body_timeout: must be a positive duration, got -1s`}},
		{"server timeouts not positive", func(c *Config) { c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout = 0, -time.Second, 0 },
			[]string{`http.read_timeout: must be a positive duration, got 0s`, `http.write_timeout: must be a positive duration, got -1s`,
				`http.idle_timeout: must be a positive duration, got 0s`}},
		{"admin server timeouts not positive", func(c *Config) { c.Admin.ReadTimeout, c.Admin.WriteTimeout, c.Admin.IdleTimeout = -time.Second, 0, 0 },
			[]string{`admin.read_timeout: must be a positive duration, got -1s`, `admin.write_timeout: must be a positive duration, got 0s`,
				`admin.idle_timeout: must be a positive duration, got 0s`}},
		{"admin server timeouts ignored with the admin listener off", func(c *Config) { c.Admin.Addr, c.Admin.WriteTimeout = AdminOff, 0 }, nil},
		{"trusted proxies", func(c *Config) {
			c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "::1/128", "10.0.0.0/33", "proxy"}
		},
			[]string{`http.trusted_proxies[3]: must be a CIDR such as 10.0.0.0/8 or an IP address, got "10.0.0.0/33"`,
				`http.trusted_proxies[4]: must be a CIDR such as 10.0.0.0/8 or an IP address, got "proxy"`}},
		{"addr ipv6", func(c *Config) { c.HTTP.Addr = "[::1]:8080" }, nil},
		{"admin addr without port", func(c *Config) { c.Admin.Addr, c.Admin.Token = "127.0.0.1", "0123456789abcdef0123" },
			[]string{`admin.addr: must be host:port, e.g. "127.0.0.1:9090", got "127.0.0.1"`}},
		{"admin addr without port and no token: one error, not a second about loopback", func(c *Config) { c.Admin.Addr = "127.0.0.1" },
			[]string{`admin.addr: must be host:port, e.g. "127.0.0.1:9090", got "127.0.0.1"`}},
		{"max body too small", func(c *Config) { c.HTTP.MaxBodyBytes = 1023 },
			[]string{`http.max_body_bytes: must be at least 1024, got 1023`}},
		{"max body minimum", func(c *Config) { c.HTTP.MaxBodyBytes = 1024 }, nil},
		{"publish timeout zero", func(c *Config) { c.HTTP.PublishTimeout = 0 },
			[]string{`http.publish_timeout: must be a positive duration, got 0s`}},
		{"shutdown timeout negative", func(c *Config) { c.HTTP.ShutdownTimeout = -time.Second },
			[]string{`http.shutdown_timeout: must be a positive duration, got -1s`}},
		{"no memory budget", func(c *Config) { c.HTTP.MaxMemoryBytes = 0 }, nil},
		{"memory budget too small", func(c *Config) { c.HTTP.MaxMemoryBytes = 50 << 20 },
			[]string{`http.max_memory_bytes: must be 0 (no budget) or at least 67108864 (64 MiB), got 52428800`}},
		{"memory budget negative", func(c *Config) { c.HTTP.MaxMemoryBytes = -1 },
			[]string{`http.max_memory_bytes: must be 0 (no budget) or at least 67108864 (64 MiB), got -1`}},
		{"memory budget minimum", func(c *Config) { c.HTTP.MaxMemoryBytes = 64 << 20 }, nil},

		// nats
		{"nats url", func(c *Config) { c.NATS.URL = "nats://nats:4222" }, nil},
		{"nats url list", func(c *Config) { c.NATS.URL = "nats://a:4222, tls://b:4222,wss://c" }, nil},
		{"nats url host:port", func(c *Config) { c.NATS.URL = "nats:4222" }, nil},
		{"nats url with credentials", func(c *Config) { c.NATS.URL = "nats://u:p@nats:4222" }, nil},
		{"nats url garbage", func(c *Config) { c.NATS.URL = "garbage" },
			[]string{`nats.url: must be host:port, e.g. nats://127.0.0.1:4222 (several separated by commas), got "garbage"`}},
		{"nats url http scheme", func(c *Config) { c.NATS.URL = "http://nats:8222" },
			[]string{`nats.url: scheme must be nats, tls, ws or wss, got "http"`}},
		{"nats url empty entry", func(c *Config) { c.NATS.URL = "nats://a:4222,," },
			[]string{`nats.url: has an empty entry in its comma-separated list`, `nats.url: has an empty entry in its comma-separated list`}},
		{"nats url without host", func(c *Config) { c.NATS.URL = "nats://" },
			[]string{`nats.url: must be a URL like nats://host:4222 (several separated by commas)`}},
		{"listen off", func(c *Config) { c.NATS.Listen = ListenOff }, nil},
		{"listen empty", func(c *Config) { c.NATS.Listen = "" },
			[]string{`nats.listen: must be host:port or "off"`}},
		{"listen without port", func(c *Config) { c.NATS.Listen = "127.0.0.1" },
			[]string{`nats.listen: must be host:port, e.g. "127.0.0.1:4222", got "127.0.0.1"`}},
		{"listen on every interface without credentials", func(c *Config) { c.NATS.Listen = "0.0.0.0:4222" },
			[]string{`nats.listen: 0.0.0.0:4222 is not a loopback address: set nats.user and nats.password (or nats.token) so the embedded broker is not open to the network, or listen on 127.0.0.1`}},
		{"listen on a LAN address without credentials", func(c *Config) { c.NATS.Listen = "192.168.1.5:4222" },
			[]string{`nats.listen: 192.168.1.5:4222 is not a loopback address: set nats.user and nats.password (or nats.token) so the embedded broker is not open to the network, or listen on 127.0.0.1`}},
		{"listen on every interface with user and password", func(c *Config) {
			c.NATS.Listen, c.NATS.User, c.NATS.Password = ":4222", "cw", "pw"
		}, nil},
		{"listen on every interface with a token", func(c *Config) { c.NATS.Listen, c.NATS.Token = "[::]:4222", "tok" }, nil},
		{"listen on localhost", func(c *Config) { c.NATS.Listen = "localhost:4222" }, nil},
		{"listen on ipv6 loopback", func(c *Config) { c.NATS.Listen = "[::1]:4222" }, nil},
		{"external server ignores listen", func(c *Config) { c.NATS.URL, c.NATS.Listen = "nats://nats:4222", "0.0.0.0:4222" }, nil},
		{"data dir empty with embedded server", func(c *Config) { c.NATS.DataDir = "" },
			[]string{`nats.data_dir: must be set when nats.url is empty (embedded server)`}},
		{"data dir empty with external server", func(c *Config) { c.NATS.DataDir = ""; c.NATS.URL = "nats://n:4222" }, nil},
		{"partitions zero", func(c *Config) { c.NATS.Partitions = 0 },
			[]string{`nats.partitions: must be between 1 and 1024, got 0`}},
		{"partitions too many", func(c *Config) { c.NATS.Partitions = 1025 },
			[]string{`nats.partitions: must be between 1 and 1024, got 1025`}},
		{"partitions maximum", func(c *Config) { c.NATS.Partitions = 1024 }, nil},
		{"max file store default", func(c *Config) { c.NATS.MaxFileStoreBytes = 0 }, nil},
		{"max file store 1 MiB", func(c *Config) { c.NATS.MaxFileStoreBytes = 1 << 20 }, nil},
		{"max file store too small", func(c *Config) { c.NATS.MaxFileStoreBytes = 1000 },
			[]string{`nats.max_file_store_bytes: must be 0 (JetStream's default: 75% of the free disk at start) or at least 1048576 (1 MiB), got 1000`}},
		{"max file store negative", func(c *Config) { c.NATS.MaxFileStoreBytes = -1 },
			[]string{`nats.max_file_store_bytes: must be 0 (JetStream's default: 75% of the free disk at start) or at least 1048576 (1 MiB), got -1`}},
		{"min free disk negative", func(c *Config) { c.NATS.MinFreeDiskBytes = -5 },
			[]string{`nats.min_free_disk_bytes: must not be negative (default 268435456, 256 MiB), got -5`}},
		{"replicas on a cluster", func(c *Config) { c.NATS.URL = "nats://n:4222"; c.NATS.Replicas = 3 }, nil},
		{"replicas too many", func(c *Config) { c.NATS.URL = "nats://n:4222"; c.NATS.Replicas = 6 },
			[]string{`nats.replicas: must be between 1 and 5, got 6`}},
		{"replicas with embedded server", func(c *Config) { c.NATS.Replicas = 3 },
			[]string{`nats.replicas: must be 1 with the embedded server (nats.url empty), got 3; replicas need a NATS cluster`}},
		{"duplicate window zero", func(c *Config) { c.NATS.DuplicateWindow = 0 },
			[]string{`nats.duplicate_window: must be a positive duration, got 0s`}},
		{"duplicate window over retention", func(c *Config) { c.NATS.Retention = time.Minute },
			[]string{`nats.duplicate_window: must not exceed nats.retention (1m0s), got 10m0s`}},
		{"retention negative", func(c *Config) { c.NATS.Retention = -time.Hour },
			[]string{`nats.retention: must be a positive duration, got -1h0m0s`}},
		{"password without user", func(c *Config) { c.NATS.Password = "p" },
			[]string{`nats.password: set without nats.user`}},
		{"user and password", func(c *Config) { c.NATS.User, c.NATS.Password = "u", "p" }, nil},
		{"two auth methods", func(c *Config) { c.NATS.User, c.NATS.Token = "u", "t" },
			[]string{`nats.token: conflicts with nats.user: use one way to authenticate`}},
		{"three auth methods", func(c *Config) { c.NATS.User, c.NATS.Token, c.NATS.CredsFile = "u", "t", "/c.creds" },
			[]string{`nats.creds_file: conflicts with nats.token and nats.user: use one way to authenticate`}},
		{"tls cert without key", func(c *Config) { c.NATS.TLS.CertFile = "c.pem" },
			[]string{`nats.tls.key_file: required with nats.tls.cert_file`}},
		{"tls key without cert", func(c *Config) { c.NATS.TLS.KeyFile = "k.pem" },
			[]string{`nats.tls.cert_file: required with nats.tls.key_file`}},
		{"tls complete", func(c *Config) { c.NATS.TLS = TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"} }, nil},
		{"nats name empty", func(c *Config) { c.NATS.Name = "" }, []string{`nats.name: must be set`}},

		// livechat
		{"api url not http", func(c *Config) { c.LiveChat.APIURL = "ftp://api.livechatinc.com" },
			[]string{`livechat.api_url: must be an http:// or https:// URL with a host, e.g. https://example.com`}},
		{"api url without scheme", func(c *Config) { c.LiveChat.APIURL = "api.livechatinc.com" },
			[]string{`livechat.api_url: must be an http:// or https:// URL with a host, e.g. https://example.com`}},
		{"api url empty", func(c *Config) { c.LiveChat.APIURL = "" }, []string{`livechat.api_url: must be set`}},
		{"api url of a fake", func(c *Config) { c.LiveChat.APIURL = "http://127.0.0.1:41234" }, nil},
		{"empty webhook secret", func(c *Config) { c.LiveChat.WebhookSecrets = []string{"a", ""} },
			[]string{`livechat.webhook_secrets[1]: must not be empty (an empty secret would match webhooks that carry none)`}},
		{"pat", func(c *Config) { c.LiveChat.PAT = PAT{AccountID: "a", Token: "t"} }, nil},
		{"token", func(c *Config) { c.LiveChat.Token = "dal:xyz" }, nil},
		{"pat and token", func(c *Config) { c.LiveChat.PAT = PAT{AccountID: "a", Token: "t"}; c.LiveChat.Token = "dal:x" },
			[]string{`livechat.token: set together with livechat.pat: use one of them`}},
		{"pat without token", func(c *Config) { c.LiveChat.PAT = PAT{AccountID: "a"} },
			[]string{`livechat.pat.token: required with livechat.pat.account_id`}},
		{"pat without account", func(c *Config) { c.LiveChat.PAT = PAT{Token: "t"} },
			[]string{`livechat.pat.account_id: required with livechat.pat.token (the id of the account that created the token)`}},
		{"organizations", func(c *Config) {
			c.LiveChat.Organizations = map[string]Credentials{"o1": {Token: "fra:x"}, "o2": {PAT: PAT{AccountID: "a", Token: "t"}}}
		}, nil},
		{"organization problems", func(c *Config) {
			c.LiveChat.Organizations = map[string]Credentials{
				"o1": {},
				"o2": {PAT: PAT{AccountID: "a"}},
				"o3": {PAT: PAT{AccountID: "a", Token: "t"}, Token: "x"},
				"":   {Token: "x"},
			}
		}, []string{
			`livechat.organizations: has an entry with an empty organization id`,
			`livechat.organizations.o1: needs pat (account_id and token), token or refresh_token`,
			`livechat.organizations.o2.pat.token: required with livechat.organizations.o2.pat.account_id`,
			`livechat.organizations.o3.token: set together with livechat.organizations.o3.pat: use one of them`,
		}},
		{"oauth app and refresh token", func(c *Config) {
			c.LiveChat.OAuth = OAuth{ClientID: "c", ClientSecret: "s", RefreshToken: "r", AccountsURL: DefaultAccountsURL}
		}, nil},
		{"oauth app only, for owner_client_id", func(c *Config) { c.LiveChat.OAuth.ClientID, c.LiveChat.OAuth.ClientSecret = "c", "s" }, nil},
		{"oauth client id without secret", func(c *Config) { c.LiveChat.OAuth.ClientID = "c" },
			[]string{`livechat.oauth.client_secret: required with livechat.oauth.client_id`}},
		{"oauth secret without client id", func(c *Config) { c.LiveChat.OAuth.ClientSecret = "s" },
			[]string{`livechat.oauth.client_id: required with livechat.oauth.client_secret`}},
		{"oauth refresh token without app", func(c *Config) { c.LiveChat.OAuth.RefreshToken = "r" },
			[]string{`livechat.oauth.refresh_token: needs livechat.oauth.client_id and livechat.oauth.client_secret to renew access tokens`}},
		{"oauth refresh token and pat", func(c *Config) {
			c.LiveChat.OAuth = OAuth{ClientID: "c", ClientSecret: "s", RefreshToken: "r", AccountsURL: DefaultAccountsURL}
			c.LiveChat.PAT = PAT{AccountID: "a", Token: "t"}
		}, []string{`livechat.oauth.refresh_token: set together with livechat.pat or livechat.token: use one of them`}},
		{"oauth accounts url", func(c *Config) { c.LiveChat.OAuth.AccountsURL = "accounts" },
			[]string{`livechat.oauth.accounts_url: must be an http:// or https:// URL with a host, e.g. https://example.com`}},
		{"organization refresh tokens", func(c *Config) {
			c.LiveChat.OAuth.ClientID, c.LiveChat.OAuth.ClientSecret = "c", "s"
			c.LiveChat.Organizations = map[string]Credentials{"o1": {RefreshToken: "r1"}, "o2": {RefreshToken: "r2"}}
		}, nil},
		{"organization refresh token problems", func(c *Config) {
			c.LiveChat.Organizations = map[string]Credentials{"o1": {RefreshToken: "r1"}, "o2": {RefreshToken: "r2", Token: "t"}}
		}, []string{
			`livechat.organizations.o1.refresh_token: needs livechat.oauth.client_id and livechat.oauth.client_secret to renew access tokens`,
			`livechat.organizations.o2.refresh_token: set together with livechat.organizations.o2.pat or livechat.organizations.o2.token: use one of them`,
			`livechat.organizations.o2.refresh_token: needs livechat.oauth.client_id and livechat.oauth.client_secret to renew access tokens`,
		}},
		{"request timeout zero", func(c *Config) { c.LiveChat.RequestTimeout = 0 },
			[]string{`livechat.request_timeout: must be a positive duration, got 0s`}},

		{"livechat max rate negative", func(c *Config) { c.LiveChat.MaxRate = -1 },
			[]string{`livechat.max_rate: must be a positive number of requests a second (or 0: none), got -1`}},
		{"livechat initial rate zero", func(c *Config) { c.LiveChat.InitialRate = 0 },
			[]string{`livechat.initial_rate: must be a positive number of requests a second, got 0`}},
		{"livechat organization rate not finite", func(c *Config) {
			c.LiveChat.Organizations = map[string]Credentials{"org": {Token: "t", MaxRate: math.Inf(1)}}
		}, []string{`livechat.organizations.org.max_rate: must be a finite number of requests a second, got +Inf`}},
		{"rocketchat max rate too high", func(c *Config) { c.RocketChat.MaxRate = 1e6 },
			[]string{`rocketchat.max_rate: must be at most 100000 requests a second, got 1e+06`}},

		// helpcrunch, rocketchat
		{"helpcrunch request timeout negative", func(c *Config) { c.HelpCrunch.RequestTimeout = -time.Second },
			[]string{`helpcrunch.request_timeout: must be a positive duration, or 0 for livechat.request_timeout, got -1s`}},
		{"rocketchat request timeout negative", func(c *Config) { c.RocketChat.RequestTimeout = -time.Second },
			[]string{`rocketchat.request_timeout: must be a positive duration, or 0 for livechat.request_timeout, got -1s`}},
		{"platform request timeouts zero: livechat's", func(c *Config) { c.HelpCrunch.RequestTimeout, c.RocketChat.RequestTimeout = 0, 0 }, nil},
		{"helpcrunch url", func(c *Config) { c.HelpCrunch.APIURL = "not a url" },
			[]string{`helpcrunch.api_url: must be an http:// or https:// URL with a host, e.g. https://example.com`}},
		{"helpcrunch max age zero", func(c *Config) { c.HelpCrunch.MaxAge = 0 },
			[]string{`helpcrunch.max_age: must be a positive duration, got 0s`}},
		{"duplicate window shorter than helpcrunch max age", func(c *Config) {
			c.HelpCrunch.SigningKey = "k"
			c.NATS.DuplicateWindow = 4 * time.Minute
		}, []string{"nats.duplicate_window: must be at least helpcrunch.max_age (5m0s) plus 1m0s of clock skew, 6m0s, " +
			"when HelpCrunch webhooks are received (helpcrunch.signing_key set), or a replayed delivery could be stored twice; got 4m0s"}},
		{"duplicate window without the clock skew", func(c *Config) {
			c.HelpCrunch.SigningKey = "k"
			c.HelpCrunch.MaxAge = 10 * time.Minute
		}, []string{"nats.duplicate_window: must be at least helpcrunch.max_age (10m0s) plus 1m0s of clock skew, 11m0s, " +
			"when HelpCrunch webhooks are received (helpcrunch.signing_key set), or a replayed delivery could be stored twice; got 10m0s"}},
		{"duplicate window covers max age and skew", func(c *Config) {
			c.HelpCrunch.SigningKey = "k"
			c.NATS.DuplicateWindow = 6 * time.Minute
		}, nil},
		{"short duplicate window without helpcrunch", func(c *Config) { c.NATS.DuplicateWindow = 2 * time.Minute }, nil},
		{"rocketchat complete", func(c *Config) {
			c.RocketChat = RocketChat{URL: "https://chat.example.com", UserID: "u", AuthToken: "t", WebhookToken: "w"}
		}, nil},
		{"rocketchat webhook only", func(c *Config) { c.RocketChat.WebhookToken = "w" }, nil},
		{"rocketchat url invalid", func(c *Config) { c.RocketChat.URL = "chat.example.com" },
			[]string{`rocketchat.url: must be an http:// or https:// URL with a host, e.g. https://example.com`}},
		{"rocketchat user without token", func(c *Config) { c.RocketChat.URL = "https://c"; c.RocketChat.UserID = "u" },
			[]string{`rocketchat.auth_token: required with rocketchat.user_id`}},
		{"rocketchat token without user", func(c *Config) { c.RocketChat.URL = "https://c"; c.RocketChat.AuthToken = "t" },
			[]string{`rocketchat.user_id: required with rocketchat.auth_token`}},
		{"rocketchat credentials without url", func(c *Config) { c.RocketChat.UserID, c.RocketChat.AuthToken = "u", "t" },
			[]string{`rocketchat.url: required with rocketchat.user_id and rocketchat.auth_token`}},

		// workers
		{"balance_every below 1s", func(c *Config) { c.Workers.BalanceEvery = 999 * time.Millisecond },
			[]string{`workers.balance_every: must be at least 1s, got 999ms`}},
		{"balance_every 1s", func(c *Config) { c.Workers.BalanceEvery = time.Second }, nil},
		{"concurrency zero", func(c *Config) { c.Workers.Concurrency = 0 },
			[]string{`workers.concurrency: must be between 1 and 10000, got 0`}},
		{"max attempts negative", func(c *Config) { c.Workers.MaxAttempts = -1 },
			[]string{`workers.max_attempts: must be between 1 and 1000, got -1`}},
		{"handler timeout negative", func(c *Config) { c.Workers.HandlerTimeout = -time.Second },
			[]string{`workers.handler_timeout: must be a positive duration, got -1s`}},
		{"max pending rechecks negative", func(c *Config) { c.Workers.MaxPendingRechecks = -1 },
			[]string{`workers.max_pending_rechecks: must be between 1 and 10000000, got -1`}},
		{"ack wait zero", func(c *Config) { c.Workers.AckWait = 0 },
			[]string{`workers.ack_wait: must be a positive duration, got 0s`}},
		{"backoff base zero", func(c *Config) { c.Workers.BackoffBase = 0 },
			[]string{`workers.backoff_base: must be a positive duration, got 0s`}},
		{"failover before redelivery", func(c *Config) { c.Workers.AckWait, c.Workers.FailoverAfter = 30*time.Second, 15*time.Second },
			[]string{`workers.failover_after: must be at least workers.ack_wait (30s), got 15s: a replica taking over a partition would otherwise run a chat's later events before the earlier ones the dead replica held are redelivered`}},
		{"backoff max below base", func(c *Config) { c.Workers.BackoffBase, c.Workers.BackoffMax = time.Minute, time.Second },
			[]string{`workers.backoff_max: must be at least workers.backoff_base (1m0s), got 1s`}},

		// the rest
		{"log level", func(c *Config) { c.Log.Level = "verbose" },
			[]string{`log.level: must be one of debug, info, warn, error, got "verbose"`}},
		{"log format", func(c *Config) { c.Log.Format = "text" },
			[]string{`log.format: must be one of json, console, got "text"`}},

		// secrets
		{"secrets keys valid", func(c *Config) {
			c.Secrets.Keys = []SecretKey{{ID: "k2", Key: testSecretKey}, {ID: "k1", Key: testSecretKey}}
		}, nil},
		{"secrets key not base64", func(c *Config) { c.Secrets.Keys = []SecretKey{{ID: "k1", Key: "not base64!"}} },
			[]string{"secrets.keys[0].key: key \"k1\": not base64 (make a key with `openssl rand -base64 32`)"}},
		{"secrets key wrong length", func(c *Config) { c.Secrets.Keys = []SecretKey{{ID: "k1", Key: "c2hvcnQ="}} },
			[]string{"secrets.keys[0].key: key \"k1\": must be 32 bytes, base64-encoded, got 5 bytes (make a key with `openssl rand -base64 32`)"}},
		{"secrets key duplicate id", func(c *Config) {
			c.Secrets.Keys = []SecretKey{{ID: "k1", Key: testSecretKey}, {ID: "k2", Key: testSecretKey}, {ID: "k1", Key: testSecretKey}}
		}, []string{`secrets.keys[2].id: "k1" is also the id of secrets.keys[0]: every key needs its own id`}},
		{"secrets key without id", func(c *Config) { c.Secrets.Keys = []SecretKey{{Key: testSecretKey}} },
			[]string{`secrets.keys[0].id: required: a short name stored with every value the key encrypts, e.g. "k1"`}},
		{"secrets key id with a colon", func(c *Config) { c.Secrets.Keys = []SecretKey{{ID: "k:1", Key: testSecretKey}} },
			[]string{`secrets.keys[0].id: sealed: invalid key "k:1": an id may hold only letters, digits, '.', '_' and '-'`}},

		{"all problems at once", func(c *Config) {
			c.HTTP.MaxBodyBytes = 1
			c.NATS.Partitions = 0
			c.Log.Level = ""
		}, []string{
			`http.max_body_bytes: must be at least 1024, got 1`,
			`nats.partitions: must be between 1 and 1024, got 0`,
			`log.level: must be one of debug, info, warn, error, got ""`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			var got []string
			for _, fe := range problems(t, err) {
				got = append(got, fe.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// testSecretKey is base64 of 32 bytes.
const testSecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestParseSecretsKeys(t *testing.T) {
	doc := []byte(`
secrets:
  keys:
    - {id: k2, key: "${NEW_KEY}"}
    - {id: k1, key: "${OLD_KEY}"}
`)
	c, err := Parse(doc, env("NEW_KEY", testSecretKey, "OLD_KEY", testSecretKey))
	require.NoError(t, err)
	assert.Equal(t, []SecretKey{{ID: "k2", Key: testSecretKey}, {ID: "k1", Key: testSecretKey}}, c.Secrets.Keys)
	k, err := c.Secrets.Keyring()
	require.NoError(t, err)
	assert.Equal(t, "k2", k.PrimaryID(), "the first key encrypts")

	c, err = Parse(doc, env("OLD_KEY", testSecretKey))
	require.NoError(t, err)
	assert.Equal(t, []SecretKey{{ID: "k1", Key: testSecretKey}}, c.Secrets.Keys, "an unset variable adds no key")

	c, err = Parse(doc, env())
	require.NoError(t, err)
	assert.Nil(t, c.Secrets.Keys)
	k, err = c.Secrets.Keyring()
	require.NoError(t, err)
	assert.Nil(t, k, "no keys, no keyring")

	_, err = Parse([]byte("secrets:\n  keys:\n    - {id: k1, key: abc, extra: 1}\n"), env())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secrets.keys[0].extra")
}

func TestValidateZeroConfig(t *testing.T) {
	err := (&Config{}).Validate()
	require.Error(t, err, "Validate applies no defaults")
	assert.Contains(t, keys(problems(t, err)), "nats.partitions")
}
