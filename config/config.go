package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/chatwarden/chatwarden/internal/sealed"
)

// Defaults, one per setting that has one. A zero value in the file (or a key
// left out) means "use the default".
const (
	DefaultHTTPAddr         = ":8080"
	DefaultAdminAddr        = "127.0.0.1:9090"
	DefaultMaxBodyBytes     = 1 << 20 // 1 MiB
	DefaultPublishTimeout   = 5 * time.Second
	DefaultShutdownTimeout  = 20 * time.Second
	DefaultMaxInflightBytes = 64 << 20
	DefaultMaxInflight      = 256
	DefaultHeaderTimeout    = 5 * time.Second
	DefaultBodyTimeout      = 5 * time.Second
	DefaultMaxConnsPerIP    = 256
	DefaultMaxInflightPerIP = 64
	DefaultMaxConns         = 4096
	// MinMemoryBudget is the smallest http.max_memory_bytes accepted: an
	// idle process needs about half of it.
	MinMemoryBudget         = 64 << 20
	DefaultNATSListen       = "127.0.0.1:4222"
	DefaultDataDir          = "./data"
	DefaultPartitions       = 16
	DefaultDuplicateWindow  = 10 * time.Minute
	DefaultRetention        = 168 * time.Hour
	DefaultReplicas         = 1
	DefaultNATSName         = "chatwarden"
	DefaultLiveChatAPIURL   = "https://api.livechatinc.com"
	DefaultLiveChatTimeout  = 20 * time.Second
	DefaultAccountsURL      = "https://accounts.livechat.com"
	DefaultHelpCrunchAPIURL = "https://api.helpcrunch.com"
	DefaultHelpCrunchMaxAge = 5 * time.Minute
	// DefaultLiveChatInitialRate is livechat.initial_rate: requests a
	// second a LiveChat client without a ceiling starts at.
	DefaultLiveChatInitialRate = 20.0
	// DefaultHelpCrunchMaxRate is helpcrunch.max_rate: HelpCrunch's 120
	// requests a minute.
	DefaultHelpCrunchMaxRate = 2.0
	DefaultConcurrency       = 32
	DefaultMaxAttempts       = 8
	DefaultAckWait           = 10 * time.Second
	DefaultFailoverAfter     = 15 * time.Second
	DefaultBackoffBase       = 1 * time.Second
	DefaultBackoffMax        = 5 * time.Minute
	DefaultSweepOlderThan    = 48 * time.Hour
	DefaultSweepConcurrency  = 64
	DefaultSweepWait         = 2 * time.Minute
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "json"
)

// Defaults and limits of the embedded server's store.
const (
	// DefaultMinFreeDisk is nats.min_free_disk_bytes: 256 MiB.
	DefaultMinFreeDisk = 256 << 20
	// MinMaxFileStore is the smallest nats.max_file_store_bytes accepted.
	MinMaxFileStore = 1 << 20
)

// breaker and dlq defaults.
const (
	DefaultBreakerWindow        = 30 * time.Second
	DefaultBreakerMinCalls      = 5
	DefaultBreakerFailureRatio  = 0.5
	DefaultBreakerConsecutive   = 5
	DefaultBreakerProbeInterval = 5 * time.Second
	DefaultBreakerProbeMax      = time.Minute
	DefaultDLQAutoRetryMax      = 1000
	// MaxBreakerCalls bounds breaker.min_calls and
	// breaker.consecutive_failures, MaxDLQAutoRetryMax dlq.auto_retry_max.
	MaxBreakerCalls    = 1000000
	MaxDLQAutoRetryMax = 1000000
)

// Limits that Validate enforces.
const (
	MinMaxBodyBytes = 1024  // http.max_body_bytes lower bound
	MaxPartitions   = 1024  // nats.partitions upper bound
	MaxReplicas     = 5     // nats.replicas upper bound
	MaxConcurrency  = 10000 // workers.concurrency upper bound
	MaxMaxAttempts  = 1000  // workers.max_attempts upper bound
	MaxSweepGroups  = 200   // sweep.groups length bound (list_archives accepts 200 group ids)
)

// workers.max_pending_rechecks: its default and upper bound.
const (
	DefaultMaxPendingRechecks = 100000
	MaxMaxPendingRechecks     = 10000000
)

const (
	// ListenOff as nats.listen turns the embedded server's client listener
	// off.
	ListenOff = "off"
	// RedactedValue is what Redacted puts in place of each secret.
	RedactedValue = "REDACTED"
)

// Config is chatwarden's configuration, as read from the YAML file given with
// --config. See chatwarden.example.yaml at the repository root for every key
// with its default and an explanation.
//
// Build one with Load or Parse (which apply defaults and validate), or with
// Default and then change fields; call Validate after changing fields by hand.
type Config struct {
	HTTP       HTTP       `yaml:"http"`
	NATS       NATS       `yaml:"nats"`
	LiveChat   LiveChat   `yaml:"livechat"`
	HelpCrunch HelpCrunch `yaml:"helpcrunch"`
	RocketChat RocketChat `yaml:"rocketchat"`
	Workers    Workers    `yaml:"workers"`
	// RulesFile is the rule file the workers run. A relative path is relative
	// to the working directory of the process, not to the config file.
	// Default "": the built-in examples/rules.yaml, every rule in dry run.
	RulesFile string  `yaml:"rules_file"`
	Sweep     Sweep   `yaml:"sweep"`
	Log       Log     `yaml:"log"`
	OTel      OTel    `yaml:"otel"`
	Admin     Admin   `yaml:"admin"`
	Secrets   Secrets `yaml:"secrets"`
	// Breaker configures the circuit breaker in front of each platform API.
	Breaker Breaker `yaml:"breaker"`
	// DLQ configures what happens to dead letters by itself.
	DLQ DLQ `yaml:"dlq"`

	// moved holds a warning for each setting read under its old name (see
	// movedKeys); WarningsFor reports them.
	moved []string
	// env holds the environment variables that set keys (see Parse).
	env []string
}

// Secrets configures the encryption of the secrets chatwarden keeps in NATS:
// the LiveChat OAuth access and refresh tokens in the key-value bucket
// CHATWARDEN_OAUTH (AES-256-GCM, see internal/sealed).
type Secrets struct {
	// Keys are the encryption keys, each an id (stored with every value,
	// 1-64 letters, digits, '.', '_', '-') and a key: base64 of 32 random
	// bytes (`openssl rand -base64 32`), typically "${CHATWARDEN_SECRETS_KEY}".
	// The first key encrypts every new write; the others only decrypt, so a
	// key is rotated by putting the new one first and keeping the old one
	// until every value was written again. Entries with an empty key (an
	// unset variable) are dropped. Default none: tokens are stored in clear,
	// with a warning at startup when OAuth is configured.
	Keys []SecretKey `yaml:"keys"`
}

// SecretKey is one entry of secrets.keys.
type SecretKey struct {
	ID  string `yaml:"id"`
	Key string `yaml:"key"`
}

// Keyring is the keyring of secrets.keys, nil without keys. Validate
// reports the errors it can return.
func (s Secrets) Keyring() (*sealed.Keyring, error) {
	if len(s.Keys) == 0 {
		return nil, nil
	}
	keys := make([]sealed.Key, 0, len(s.Keys))
	for i, k := range s.Keys {
		key, err := sealed.ParseKey(k.ID, k.Key)
		if err != nil {
			return nil, fmt.Errorf("secrets.keys[%d]: %w", i, err)
		}
		keys = append(keys, key)
	}
	k, err := sealed.NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("secrets.keys: %w", err)
	}
	return k, nil
}

// Admin configures the admin listener: the admin API (/admin/), the web
// console (/ui/), Prometheus metrics (/metrics) and Go's profiler
// (/debug/pprof/). It is a listener of its own so that the public webhook
// port (http.addr) never exposes them.
type Admin struct {
	// Addr is the host:port of the admin listener, or "off" for none. A
	// non-loopback address needs Token: the process refuses to start
	// without it. Port 0 picks a free port. Default "127.0.0.1:9090".
	Addr string `yaml:"addr"`
	// Token is the bearer token of /admin/, the console's data, /debug/pprof/
	// and (unless MetricsPublic) /metrics. It used to be http.admin_token,
	// which is still read, with a warning. Default "": those routes answer
	// 403 saying to set it.
	Token string `yaml:"token"`
	// MetricsPublic serves /metrics without the token, for a Prometheus
	// scraping over a private network. Default false.
	MetricsPublic bool `yaml:"metrics_public"`
}

// AdminOff as admin.addr turns the admin listener off.
const AdminOff = "off"

// OTel configures OpenTelemetry tracing: spans from each webhook request
// through the stored event (W3C traceparent in the NATS message headers) to
// the worker, each rule and each platform API call, exported over OTLP/HTTP.
// Off by default, at no cost.
type OTel struct {
	// Endpoint is the OTLP/HTTP collector, e.g. "http://otel-collector:4318"
	// (traces go to <endpoint>/v1/traces). Default "": tracing off.
	Endpoint string `yaml:"endpoint"`
	// ServiceName names this process in traces. Default "chatwarden".
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the share of new traces recorded, 0..1 (a webhook's
	// trace continues in the workers whatever the ratio). Default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// HTTP configures the public HTTP listener of every role: webhooks (serve,
// receive), /healthz and /readyz (all roles). The admin API, console, metrics
// and profiler are on the admin listener (see Admin).
type HTTP struct {
	// Addr is the host:port to listen on; an empty host means every
	// interface. Default ":8080".
	Addr string `yaml:"addr"`
	// MaxBodyBytes caps a webhook body; a larger one is answered 413. At
	// least 1024. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PublishTimeout is how long a webhook request waits for JetStream to
	// acknowledge the stored event before it is answered 503 with
	// Retry-After. Default 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ShutdownTimeout bounds the graceful shutdown: in-flight requests and
	// workers get this long to finish. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxInflightBytes bounds the webhook bodies being received and stored
	// at once. A body is charged as its bytes arrive, never by its declared
	// Content-Length: its buffer starts at 4 KiB and doubles as it fills, so
	// it counts at most twice the bytes received. Beyond it, webhooks are answered 503 with
	// Retry-After at once instead of queueing: overload costs retries, not
	// memory. At least max_body_bytes. Default 67108864 (64 MiB).
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// MaxInflight bounds the webhooks being stored at once (a webhook takes
	// its slot once its whole body has arrived, so a slow or stalled body
	// holds none); beyond it they are answered 503 with Retry-After at once.
	// It keeps
	// the latency of accepted webhooks low under overload: a stored event
	// takes a few milliseconds, so 256 in flight means well under 100ms of
	// waiting. Default 256.
	MaxInflight int `yaml:"max_inflight"`
	// MaxMemoryBytes is the process's memory budget, embedded broker
	// included: Go's soft memory limit is set to 90% of it (unless
	// GOMEMLIMIT is set), and webhooks are answered 503 with Retry-After
	// while the live heap is above 70% of it, until the broker's read cache
	// shrinks back. Set it a little under a container's memory limit. 0 or
	// at least 67108864 (64 MiB). Default 0 (no budget).
	MaxMemoryBytes int64 `yaml:"max_memory_bytes"`
	// HeaderTimeout bounds the time to read a request's headers (the
	// server's ReadHeaderTimeout); a connection that takes longer is
	// closed. Default 5s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// BodyTimeout bounds the time to receive a webhook's whole body, counted
	// from when its headers have been read. A body that has not arrived by
	// then is answered 408 and its connection closed: a stalled sender holds
	// its connection for this long at most. Webhook bodies are small (a few
	// KB) and arrive in one go. Default 5s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxConnsPerIP caps the connections open at once from one client
	// address (the TCP peer; connections from trusted_proxies are not
	// capped). One more is answered 429 with Retry-After and closed before
	// its request is read; other addresses are not affected. A platform
	// sends from a handful of addresses over pooled keep-alive connections:
	// at 5,000 webhooks/s from 4 addresses, even at 50 ms an answer, each
	// has about 63 requests open (Little's law), so 256 leaves four times
	// that for pools that keep idle connections. At least 1. Default 256.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxInflightPerIP caps the webhooks being received or stored at once
	// for one client address (the forwarded one behind trusted_proxies);
	// one more is answered 429 with Retry-After and its connection closed.
	// The same answer goes to an address whose webhooks would hold more than
	// a quarter of max_inflight_bytes (or one body of max_body_bytes if
	// more): no one address can take the whole byte budget with bodies it
	// sends slowly. Sized as
	// max_conns_per_ip from the same reasoning (about 63 in flight per
	// sender address at 5,000/s and 50 ms). At least 1. Default 64.
	MaxInflightPerIP int `yaml:"max_inflight_per_ip"`
	// TrustedProxies are the reverse proxies (CIDRs, or single addresses)
	// allowed to name the client: only when the TCP peer is one of them do
	// X-Forwarded-For (its rightmost address not itself a trusted proxy) or
	// X-Real-IP name the client, for logs and max_inflight_per_ip; their
	// connections are not capped by max_conns_per_ip. Default none: the
	// TCP peer is the client and forwarded headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxConns caps the connections open at once from every address
	// together (trusted proxies included); one more is answered 503 with
	// Retry-After and closed before its request is read. It keeps memory
	// (about 16 KB a connection: 4096 take some 64 MiB) and file
	// descriptors for the rest of the process (the embedded broker's files)
	// however many addresses connect; a platform's senders need a few
	// hundred at most (see max_conns_per_ip). At least 1. Default 4096.
	MaxConns int `yaml:"max_conns"`
}

// TrustedProxyPrefixes is TrustedProxies parsed (a single address as a
// one-address prefix); entries that do not parse are left out (Validate
// reports them).
func (h HTTP) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range h.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// NATS configures the broker: an external server or cluster (URL set), or
// the embedded server (URL empty).
type NATS struct {
	// URL is the NATS server to connect to; several may be given separated
	// by commas (nats://a:4222,nats://b:4222). Default "": start an embedded
	// nats-server with JetStream, storing under DataDir.
	URL string `yaml:"url"`
	// Listen is the host:port on which the embedded server accepts clients
	// (the nats CLI, chatwarden's operational subcommands). "off" turns the
	// listener off: only the process itself can reach the embedded server,
	// and the operational subcommands cannot run while it does. An address
	// other than loopback requires User/Password or Token. Ignored when URL
	// is set. Default "127.0.0.1:4222".
	Listen string `yaml:"listen"`
	// DataDir is where the embedded server keeps JetStream files. A relative
	// path is relative to the working directory. Ignored when URL is set.
	// Default "./data".
	DataDir string `yaml:"data_dir"`
	// Partitions is how many partitions events are spread over by chat;
	// events of one chat stay in one partition, in order. 1..1024. Default
	// 16. The events stream records the number it was created with; a later
	// start with another number fails rather than reorder chats.
	Partitions int `yaml:"partitions"`
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// redelivered webhooks; at most Retention. Default 10m.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// Retention is how long stored events are kept (for replay). Default
	// 168h (7 days).
	Retention time.Duration `yaml:"retention"`
	// Replicas is the number of stream replicas on a NATS cluster, 1..5;
	// must be 1 with the embedded server. Default 1.
	Replicas int `yaml:"replicas"`
	// CredsFile is a NATS credentials file (JWT and nkey seed). Default "".
	CredsFile string `yaml:"creds_file"`
	// User and Password authenticate with user/password. Default "". With
	// the embedded server they are what it requires of every client; when
	// they and Token are empty it requires random credentials generated at
	// first start into DataDir (bus.CredentialsFile, mode 0600).
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token authenticates with a token (with the embedded server: the token
	// it requires). Default "".
	Token string `yaml:"token"`
	// TLS configures TLS to the server. Default: none (a tls:// URL still
	// uses the system roots).
	TLS TLS `yaml:"tls"`
	// Name is the connection name shown by the server's monitoring.
	// Default "chatwarden".
	Name string `yaml:"name"`
	// MaxFileStoreBytes caps what the embedded server's JetStream stores on
	// disk (its max_file_store); at the cap, webhooks are answered 503
	// (storage_full) until retention frees room. Default 0: JetStream's own
	// choice, 75% of the free space of DataDir's filesystem at start (plus
	// what it already stores). At least 1 MiB when set. Ignored when URL is
	// set (the server's own configuration decides).
	MaxFileStoreBytes int64 `yaml:"max_file_store_bytes"`
	// MinFreeDiskBytes is the free space on DataDir's filesystem below which
	// the embedded server's store is reported as short of room: a warning at
	// start and whenever the free space falls below it (and a note when it
	// is back above). It refuses nothing by itself. Default 256 MiB.
	// Ignored when URL is set.
	MinFreeDiskBytes int64 `yaml:"min_free_disk_bytes"`
}

// Embedded reports whether chatwarden runs its own NATS server (URL empty).
func (n NATS) Embedded() bool { return n.URL == "" }

// TLS configures a TLS client connection. All paths default to "".
type TLS struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate;
	// default: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key for mutual
	// TLS; give both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// LiveChat configures the LiveChat (text.com) platform: webhook verification
// and API credentials. Credentials are one of a personal access token (PAT),
// an OAuth/bot bearer Token, or an OAuth refresh token (OAuth.RefreshToken,
// renewed automatically); see https://platform.text.com/docs/authorization.
type LiveChat struct {
	// APIURL is the API base URL; tests point it at a fake. Default
	// "https://api.livechatinc.com".
	APIURL string `yaml:"api_url"`
	// WebhookSecrets are the accepted webhook secret keys; several may be
	// listed while rotating. Load and Parse drop empty entries, so
	// ["${LIVECHAT_WEBHOOK_SECRET}"] with the variable unset is an empty
	// list. Empty list (the default): every LiveChat webhook is rejected
	// with 401.
	WebhookSecrets []string `yaml:"webhook_secrets"`
	// PAT is a personal access token: both account_id and token. Default
	// none.
	PAT PAT `yaml:"pat"`
	// Token is an OAuth access token ("dal:..." or "fra:...") or bot token,
	// sent as a bearer token. Default "".
	Token string `yaml:"token"`
	// OAuth is an OAuth app (client id and secret) and, optionally, the
	// refresh token the workers act with. Default none.
	OAuth OAuth `yaml:"oauth"`
	// Organizations holds credentials per LiveChat organization id, for apps
	// that serve several organizations; an organization not listed uses PAT,
	// Token or OAuth.RefreshToken. Default none.
	Organizations map[string]Credentials `yaml:"organizations"`
	// OwnerClientID is the Client ID that owns the webhooks `chatwarden
	// webhooks` registers, lists and removes (register_webhook's
	// owner_client_id). Default "": OAuth.ClientID.
	OwnerClientID string `yaml:"owner_client_id"`
	// RequestTimeout bounds one API request. Default 20s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxRate is a ceiling on the requests a second each LiveChat client
	// sends (one client per organization, each with its own budget), for
	// a plan whose limit is known: the client starts there and still
	// slows down when the API answers too_many_requests. Default 0: no
	// ceiling; the client starts at InitialRate and finds the limit itself.
	MaxRate float64 `yaml:"max_rate"`
	// InitialRate is where a client without a ceiling starts, in requests
	// a second; it doubles every second while requests wait for it.
	// Default 20.
	InitialRate float64 `yaml:"initial_rate"`
}

// OAuth is a LiveChat OAuth app (Developer Console → your app → Authorization)
// and the refresh token of an account that authorized it. Access tokens live
// 8 hours; chatwarden renews them before they expire and after an
// `authentication` error, and keeps the newest refresh token in the JetStream
// key-value bucket CHATWARDEN_OAUTH so restarts and replicas share it. See
// https://platform.text.com/docs/authorization/oauth-authorization.
type OAuth struct {
	// ClientID and ClientSecret identify the app; give both or neither.
	// Default "".
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RefreshToken, when set, is the default credential (instead of pat or
	// token). Needs ClientID and ClientSecret. Default "".
	RefreshToken string `yaml:"refresh_token"`
	// AccountsURL is the accounts server with the token endpoint /v2/token.
	// Default "https://accounts.livechat.com".
	AccountsURL string `yaml:"accounts_url"`
}

// IsZero reports whether nothing is set but the accounts URL.
func (o OAuth) IsZero() bool { return o.ClientID == "" && o.ClientSecret == "" && o.RefreshToken == "" }

// CredentialsFor returns the credentials to act for a LiveChat organization:
// its entry in Organizations if there is one, else the top-level PAT or
// Token. ok is false when that leaves no credentials.
func (l LiveChat) CredentialsFor(organizationID string) (c Credentials, ok bool) {
	if c, found := l.Organizations[organizationID]; found && !c.IsZero() {
		return c, true
	}
	c = l.DefaultCredentials()
	return c, !c.IsZero()
}

// DefaultCredentials are the top-level credentials: PAT, Token or
// OAuth.RefreshToken (zero when none is set).
func (l LiveChat) DefaultCredentials() Credentials {
	return Credentials{PAT: l.PAT, Token: l.Token, RefreshToken: l.OAuth.RefreshToken}
}

// HasCredentials reports whether any LiveChat credentials are configured:
// PAT, Token, OAuth.RefreshToken or an organization's.
func (l LiveChat) HasCredentials() bool {
	if !l.DefaultCredentials().IsZero() {
		return true
	}
	for _, c := range l.Organizations {
		if !c.IsZero() {
			return true
		}
	}
	return false
}

// PAT is a LiveChat personal access token, created by AccountID; see
// https://platform.text.com/docs/authorization/personal-access-tokens.
type PAT struct {
	AccountID string `yaml:"account_id"`
	Token     string `yaml:"token"`
}

// IsZero reports whether neither field is set.
func (p PAT) IsZero() bool { return p.AccountID == "" && p.Token == "" }

// Credentials are one organization's LiveChat credentials: a PAT, a bearer
// Token, or an OAuth RefreshToken of the app in livechat.oauth; one of them.
type Credentials struct {
	PAT   PAT    `yaml:"pat"`
	Token string `yaml:"token"`
	// RefreshToken is an OAuth refresh token of an account of the
	// organization that authorized the app livechat.oauth (client_id and
	// client_secret); access tokens are renewed from it. Default "".
	RefreshToken string `yaml:"refresh_token"`
	// MaxRate and InitialRate replace livechat.max_rate and
	// livechat.initial_rate for this organization's client. Default 0:
	// livechat's.
	MaxRate     float64 `yaml:"max_rate"`
	InitialRate float64 `yaml:"initial_rate"`
}

// IsZero reports whether no credentials are set.
func (c Credentials) IsZero() bool { return c.PAT.IsZero() && c.Token == "" && c.RefreshToken == "" }

// HelpCrunch configures the HelpCrunch platform.
type HelpCrunch struct {
	// APIURL is the API base URL. Default "https://api.helpcrunch.com".
	APIURL string `yaml:"api_url"`
	// APIKey is the REST API key the workers act with. Default "".
	APIKey string `yaml:"api_key"`
	// SigningKey verifies webhook signatures; empty: every HelpCrunch
	// webhook is rejected with 401. Default "".
	SigningKey string `yaml:"signing_key"`
	// MaxAge is how old a webhook delivery may be (its lastAttemptAt, else
	// createdAt) before it is refused with 401 as a replay; up to
	// HelpCrunchClockSkew in the future is allowed. With a signing key set,
	// nats.duplicate_window must be at least MaxAge + HelpCrunchClockSkew, so
	// that a replay accepted within MaxAge is still recognised as a
	// duplicate. Default 5m.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxRate is a ceiling on the requests a second the HelpCrunch client
	// sends. Default 2 (HelpCrunch allows 120 a minute per account).
	MaxRate float64 `yaml:"max_rate"`
	// RequestTimeout bounds one HelpCrunch API request, from sending it to
	// the end of the answer. Default (and 0): livechat.request_timeout (20s
	// unless set), which timed HelpCrunch requests before this key existed.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// PlatformTimeout is a platform's request timeout d, or
// livechat.request_timeout when d is 0 (see HelpCrunch.RequestTimeout).
func (c *Config) PlatformTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return c.LiveChat.RequestTimeout
}

// HelpCrunchClockSkew is how far in the future a HelpCrunch delivery may be
// dated (helpcrunch.MaxClockSkew; a test keeps them equal).
const HelpCrunchClockSkew = time.Minute

// RocketChat configures a Rocket.Chat workspace.
type RocketChat struct {
	// URL is the workspace's base URL, e.g. https://chat.example.com.
	// Required with UserID and AuthToken. Default "".
	URL string `yaml:"url"`
	// UserID and AuthToken are a personal access token of the user the
	// workers act as; give both or neither. Default "".
	UserID    string `yaml:"user_id"`
	AuthToken string `yaml:"auth_token"`
	// WebhookToken is the token Rocket.Chat's outgoing webhook sends; empty:
	// every Rocket.Chat webhook is rejected with 401. Default "".
	WebhookToken string `yaml:"webhook_token"`
	// MaxRate is a ceiling on the requests a second the Rocket.Chat client
	// sends, on top of the per-route limits the server announces in its
	// X-RateLimit headers (which are always honoured). Default 0: none.
	MaxRate float64 `yaml:"max_rate"`
	// RequestTimeout bounds one Rocket.Chat API request, from sending it to
	// the end of the answer. Default (and 0): livechat.request_timeout (20s
	// unless set), which timed Rocket.Chat requests before this key existed.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Workers configures the workers that apply rules to stored events.
type Workers struct {
	// Concurrency is how many events are processed at once (distinct chats;
	// one chat's events are always processed in order). Default 32.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts is how many times a retryable failure is tried before the
	// event goes to the dead-letter stream. Default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// AckWait is how long JetStream waits for a worker's acknowledgement
	// before it delivers the event again. Workers signal progress while
	// they handle an event, so this bounds how soon the events of a worker
	// that died are handed to another, not how long an action may take.
	// Default 10s.
	AckWait time.Duration `yaml:"ack_wait"`
	// FailoverAfter is how long a partition stays with a worker replica
	// that stopped pulling (it died) before another replica takes it over;
	// its unfinished events are then redelivered after AckWait. Each
	// partition is owned by one replica at a time (a JetStream priority
	// group with a pinned client). At least 5s, and at least AckWait: a
	// new owner must not run a chat's later events before the dead owner's
	// unfinished ones are redelivered. Default 15s.
	FailoverAfter time.Duration `yaml:"failover_after"`
	// BackoffBase is the first retry delay; each further attempt doubles
	// it, with jitter, up to BackoffMax. A platform's Retry-After wins when
	// longer. Default 1s.
	BackoffBase time.Duration `yaml:"backoff_base"`
	// BackoffMax caps the retry delay; at least BackoffBase. Default 5m.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// DryRun makes every rule a dry run: actions are audited, not taken.
	// Default false.
	DryRun bool `yaml:"dry_run"`
	// MaxPendingRechecks caps the re-checks of delayed rules (`after`)
	// pending at once, over every chat and rule (dry run included). There
	// is at most one per chat and rule: a later match replaces the pending
	// one. Beyond the cap a match that would add one is audited as skipped
	// and logged, and the rule does not act for it. Each pending re-check
	// is a message in the events stream. 1..10000000. Default 100000.
	MaxPendingRechecks int `yaml:"max_pending_rechecks"`
}

// Breaker configures the circuit breaker in front of each platform API, one
// per platform and set of credentials (each LiveChat organization of
// livechat.organizations and the default credentials, the HelpCrunch
// account, the Rocket.Chat server). Outage failures (connection errors,
// timeouts, 5xx answers; never 4xx or 429) open it when at least
// FailureRatio of at least MinCalls calls in Window failed, or
// ConsecutiveFailures failed in a row. While it is open the platform's
// events wait in order, their attempts not spent (workers.max_attempts
// counts failures of an API that answers), and one probe call every
// ProbeInterval (doubling up to ProbeMax) checks the API; when it answers,
// the breaker closes and the events go on.
type Breaker struct {
	// Window is how far back calls count. Default 30s.
	Window time.Duration `yaml:"window"`
	// MinCalls is how many calls the window must hold before FailureRatio
	// can open the breaker. 1..1000000. Default 5.
	MinCalls int `yaml:"min_calls"`
	// FailureRatio is the share of outage failures among the window's calls
	// that opens the breaker, over 0 and at most 1. Default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// ConsecutiveFailures opens the breaker after this many outage failures
	// in a row, however slowly they come. Keep it below
	// workers.max_attempts (a warning says so otherwise), so that one event
	// failing alone opens the breaker before it runs out of attempts.
	// 1..1000000. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// ProbeInterval is the wait before the first probe call once open.
	// Default 5s.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// ProbeMax caps the wait between probes, which doubles after each
	// failed one; at least ProbeInterval. Default 1m.
	ProbeMax time.Duration `yaml:"probe_max"`
}

// DLQ configures the dead letters' automatic handling.
type DLQ struct {
	// AutoRetry retries, when a platform's circuit breaker closes, the dead
	// letters of that platform (and organization) whose attempts ran out on
	// an outage (connection errors, timeouts, 5xx), oldest first; each event
	// at most 3 times this way. Default true.
	AutoRetry *bool `yaml:"auto_retry"`
	// AutoRetryMax caps the dead letters retried at each close.
	// 1..1000000. Default 1000.
	AutoRetryMax int `yaml:"auto_retry_max"`
}

// AutoRetryOn reports dlq.auto_retry (true unless set false).
func (d DLQ) AutoRetryOn() bool { return d.AutoRetry == nil || *d.AutoRetry }

// Sweep configures the backlog sweep: `chatwarden sweep livechat-unassigned`
// (whose flags default to these settings) and, with Schedule, the sweeps
// that `work` and `serve` run by themselves. A sweep lists LiveChat chats
// that are Unassigned (routing.unassigned and routing.pinned true) and
// publishes one event per chat for the workers, whose built-in rule unpins
// each chat that is still pinned, unassigned and old enough.
type Sweep struct {
	// Schedule runs the sweep inside the workers on a JetStream message
	// schedule: "@every 1h" (at least 1s), "@hourly", "@daily" (also
	// @weekly, @monthly, @yearly), or a 6-field cron expression in UTC
	// ("0 30 2 * * *": every day at 02:30:00). Only one replica runs each
	// run. Default "": no scheduled sweeps (a schedule left from an earlier
	// configuration is removed when `work` starts).
	Schedule string `yaml:"schedule"`
	// OlderThan selects chats whose thread started at least this long ago.
	// Default 48h.
	OlderThan time.Duration `yaml:"older_than"`
	// Groups selects chats of these LiveChat group ids only (at most 200).
	// Default []: every group.
	Groups []int `yaml:"groups"`
	// Limit caps how many chats one sweep hands to the workers, oldest
	// first. Default 0: no cap.
	Limit int `yaml:"limit"`
	// Concurrency is how many chats of a `chatwarden sweep` may wait for
	// the workers' decision at once; the sweep publishes the next chat only
	// when one is decided, so live webhooks never queue behind a whole
	// backlog. 1..10000. Default 64.
	Concurrency int `yaml:"concurrency"`
	// MaxRate caps how many chats per second a sweep hands to the workers
	// (each costs the workers two API calls: get_chat to re-check, and the
	// unpin). Default 0: no cap; the LiveChat client slows down by itself
	// when the API answers too_many_requests.
	MaxRate float64 `yaml:"max_rate"`
	// Wait is how long `chatwarden sweep` waits for the workers' next
	// decision before it stops waiting and reports the chats still pending
	// (the workers go on with them). Default 2m.
	Wait time.Duration `yaml:"wait"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is json (one object per line) or console (for people).
	// Default "json".
	Format string `yaml:"format"`
}

// Default returns the configuration with every default set: an embedded NATS
// server under ./data and no platform credentials. It is valid.
func Default() *Config {
	c := &Config{}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults sets every zero-valued setting that has a default to that
// default. Settings already set are kept.
func (c *Config) ApplyDefaults() {
	setString(&c.HTTP.Addr, DefaultHTTPAddr)
	setString(&c.Admin.Addr, DefaultAdminAddr)
	setInt64(&c.HTTP.MaxBodyBytes, DefaultMaxBodyBytes)
	setDuration(&c.HTTP.PublishTimeout, DefaultPublishTimeout)
	setDuration(&c.HTTP.ShutdownTimeout, DefaultShutdownTimeout)
	setInt64(&c.HTTP.MaxInflightBytes, DefaultMaxInflightBytes)
	setInt(&c.HTTP.MaxInflight, DefaultMaxInflight)
	setDuration(&c.HTTP.HeaderTimeout, DefaultHeaderTimeout)
	setDuration(&c.HTTP.BodyTimeout, DefaultBodyTimeout)
	setInt(&c.HTTP.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setInt(&c.HTTP.MaxInflightPerIP, DefaultMaxInflightPerIP)
	setInt(&c.HTTP.MaxConns, DefaultMaxConns)
	setString(&c.OTel.ServiceName, "chatwarden")
	if c.OTel.SampleRatio == 0 {
		c.OTel.SampleRatio = 1
	}

	setString(&c.NATS.Listen, DefaultNATSListen)
	setString(&c.NATS.DataDir, DefaultDataDir)
	setInt(&c.NATS.Partitions, DefaultPartitions)
	setDuration(&c.NATS.DuplicateWindow, DefaultDuplicateWindow)
	setDuration(&c.NATS.Retention, DefaultRetention)
	setInt(&c.NATS.Replicas, DefaultReplicas)
	setString(&c.NATS.Name, DefaultNATSName)
	setInt64(&c.NATS.MinFreeDiskBytes, DefaultMinFreeDisk)

	setString(&c.LiveChat.APIURL, DefaultLiveChatAPIURL)
	setDuration(&c.LiveChat.RequestTimeout, DefaultLiveChatTimeout)
	setString(&c.LiveChat.OAuth.AccountsURL, DefaultAccountsURL)

	setString(&c.HelpCrunch.APIURL, DefaultHelpCrunchAPIURL)
	setDuration(&c.HelpCrunch.MaxAge, DefaultHelpCrunchMaxAge)
	setFloat(&c.LiveChat.InitialRate, DefaultLiveChatInitialRate)
	setFloat(&c.HelpCrunch.MaxRate, DefaultHelpCrunchMaxRate)
	// Before they had their own, livechat.request_timeout timed every
	// platform's requests: a file that raised it keeps raising them all.
	setDuration(&c.HelpCrunch.RequestTimeout, c.LiveChat.RequestTimeout)
	setDuration(&c.RocketChat.RequestTimeout, c.LiveChat.RequestTimeout)

	setInt(&c.Workers.Concurrency, DefaultConcurrency)
	setInt(&c.Workers.MaxAttempts, DefaultMaxAttempts)
	setInt(&c.Workers.MaxPendingRechecks, DefaultMaxPendingRechecks)
	setDuration(&c.Workers.AckWait, DefaultAckWait)
	setDuration(&c.Workers.FailoverAfter, DefaultFailoverAfter)
	setDuration(&c.Workers.BackoffBase, DefaultBackoffBase)
	setDuration(&c.Workers.BackoffMax, DefaultBackoffMax)

	setDuration(&c.Sweep.OlderThan, DefaultSweepOlderThan)
	setInt(&c.Sweep.Concurrency, DefaultSweepConcurrency)
	setDuration(&c.Sweep.Wait, DefaultSweepWait)

	setString(&c.Log.Level, DefaultLogLevel)
	setString(&c.Log.Format, DefaultLogFormat)

	setDuration(&c.Breaker.Window, DefaultBreakerWindow)
	setInt(&c.Breaker.MinCalls, DefaultBreakerMinCalls)
	if c.Breaker.FailureRatio == 0 {
		c.Breaker.FailureRatio = DefaultBreakerFailureRatio
	}
	setInt(&c.Breaker.ConsecutiveFailures, DefaultBreakerConsecutive)
	setDuration(&c.Breaker.ProbeInterval, DefaultBreakerProbeInterval)
	setDuration(&c.Breaker.ProbeMax, DefaultBreakerProbeMax)
	if c.DLQ.AutoRetry == nil {
		on := true
		c.DLQ.AutoRetry = &on
	}
	setInt(&c.DLQ.AutoRetryMax, DefaultDLQAutoRetryMax)
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func setInt64(p *int64, def int64) {
	if *p == 0 {
		*p = def
	}
}

func setFloat(p *float64, def float64) {
	if *p == 0 {
		*p = def
	}
}

func setDuration(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}
