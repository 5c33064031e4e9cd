package config

import (
	"time"
)

// Defaults, one per setting that has one. A zero value in the file (or a key
// left out) means "use the default".
const (
	DefaultHTTPAddr         = ":8080"
	DefaultMaxBodyBytes     = 1 << 20 // 1 MiB
	DefaultPublishTimeout   = 5 * time.Second
	DefaultShutdownTimeout  = 20 * time.Second
	DefaultNATSListen       = "127.0.0.1:4222"
	DefaultDataDir          = "./data"
	DefaultPartitions       = 16
	DefaultDuplicateWindow  = 10 * time.Minute
	DefaultRetention        = 168 * time.Hour
	DefaultReplicas         = 1
	DefaultNATSName         = "chatwarden"
	DefaultLiveChatAPIURL   = "https://api.livechatinc.com"
	DefaultLiveChatTimeout  = 20 * time.Second
	DefaultHelpCrunchAPIURL = "https://api.helpcrunch.com"
	DefaultConcurrency      = 32
	DefaultMaxAttempts      = 8
	DefaultAckWait          = 30 * time.Second
	DefaultFailoverAfter    = 15 * time.Second
	DefaultBackoffBase      = 1 * time.Second
	DefaultBackoffMax       = 5 * time.Minute
	DefaultLogLevel         = "info"
	DefaultLogFormat        = "json"
)

// Limits that Validate enforces.
const (
	MinMaxBodyBytes = 1024  // http.max_body_bytes lower bound
	MaxPartitions   = 1024  // nats.partitions upper bound
	MaxReplicas     = 5     // nats.replicas upper bound
	MaxConcurrency  = 10000 // workers.concurrency upper bound
	MaxMaxAttempts  = 1000  // workers.max_attempts upper bound
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
	RulesFile string `yaml:"rules_file"`
	Log       Log    `yaml:"log"`
}

// HTTP configures the HTTP server of every role: webhooks (serve, receive),
// /healthz, /readyz, /metrics (all roles) and the admin API.
type HTTP struct {
	// Addr is the host:port to listen on; an empty host means every
	// interface. Default ":8080".
	Addr string `yaml:"addr"`
	// MaxBodyBytes caps a webhook body; a larger one is answered 413. At
	// least 1024. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AdminToken is the bearer token of the /admin/ endpoints. Default ""
	// (the admin API is disabled).
	AdminToken string `yaml:"admin_token"`
	// PublishTimeout is how long a webhook request waits for JetStream to
	// acknowledge the stored event before it is answered 503 with
	// Retry-After. Default 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ShutdownTimeout bounds the graceful shutdown: in-flight requests and
	// workers get this long to finish. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
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
	// and the operational subcommands cannot run while it does. Ignored when
	// URL is set. Default "127.0.0.1:4222".
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
	// User and Password authenticate with user/password. Default "".
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token authenticates with a token. Default "".
	Token string `yaml:"token"`
	// TLS configures TLS to the server. Default: none (a tls:// URL still
	// uses the system roots).
	TLS TLS `yaml:"tls"`
	// Name is the connection name shown by the server's monitoring.
	// Default "chatwarden".
	Name string `yaml:"name"`
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
// and API credentials. Credentials are either a personal access token (PAT)
// or an OAuth/bot bearer Token, not both; see
// https://platform.text.com/docs/authorization.
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
	// Organizations holds credentials per LiveChat organization id, for apps
	// that serve several organizations; an organization not listed uses PAT
	// or Token. Default none.
	Organizations map[string]Credentials `yaml:"organizations"`
	// RequestTimeout bounds one API request. Default 20s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// CredentialsFor returns the credentials to act for a LiveChat organization:
// its entry in Organizations if there is one, else the top-level PAT or
// Token. ok is false when that leaves no credentials.
func (l LiveChat) CredentialsFor(organizationID string) (c Credentials, ok bool) {
	if c, found := l.Organizations[organizationID]; found && !c.IsZero() {
		return c, true
	}
	c = Credentials{PAT: l.PAT, Token: l.Token}
	return c, !c.IsZero()
}

// HasCredentials reports whether any LiveChat credentials are configured:
// PAT, Token or an organization's.
func (l LiveChat) HasCredentials() bool {
	if !l.PAT.IsZero() || l.Token != "" {
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

// Credentials are one organization's LiveChat credentials: a PAT or a bearer
// Token, not both.
type Credentials struct {
	PAT   PAT    `yaml:"pat"`
	Token string `yaml:"token"`
}

// IsZero reports whether no credentials are set.
func (c Credentials) IsZero() bool { return c.PAT.IsZero() && c.Token == "" }

// HelpCrunch configures the HelpCrunch platform.
type HelpCrunch struct {
	// APIURL is the API base URL. Default "https://api.helpcrunch.com".
	APIURL string `yaml:"api_url"`
	// APIKey is the REST API key the workers act with. Default "".
	APIKey string `yaml:"api_key"`
	// SigningKey verifies webhook signatures; empty: every HelpCrunch
	// webhook is rejected with 401. Default "".
	SigningKey string `yaml:"signing_key"`
}

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
	// Default 30s.
	AckWait time.Duration `yaml:"ack_wait"`
	// FailoverAfter is how long a partition stays with a worker replica
	// that stopped pulling (it died) before another replica takes it over;
	// its unfinished events are then redelivered after AckWait. Each
	// partition is owned by one replica at a time (a JetStream priority
	// group with a pinned client). At least 5s. Default 15s.
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
	setInt64(&c.HTTP.MaxBodyBytes, DefaultMaxBodyBytes)
	setDuration(&c.HTTP.PublishTimeout, DefaultPublishTimeout)
	setDuration(&c.HTTP.ShutdownTimeout, DefaultShutdownTimeout)

	setString(&c.NATS.Listen, DefaultNATSListen)
	setString(&c.NATS.DataDir, DefaultDataDir)
	setInt(&c.NATS.Partitions, DefaultPartitions)
	setDuration(&c.NATS.DuplicateWindow, DefaultDuplicateWindow)
	setDuration(&c.NATS.Retention, DefaultRetention)
	setInt(&c.NATS.Replicas, DefaultReplicas)
	setString(&c.NATS.Name, DefaultNATSName)

	setString(&c.LiveChat.APIURL, DefaultLiveChatAPIURL)
	setDuration(&c.LiveChat.RequestTimeout, DefaultLiveChatTimeout)

	setString(&c.HelpCrunch.APIURL, DefaultHelpCrunchAPIURL)

	setInt(&c.Workers.Concurrency, DefaultConcurrency)
	setInt(&c.Workers.MaxAttempts, DefaultMaxAttempts)
	setDuration(&c.Workers.AckWait, DefaultAckWait)
	setDuration(&c.Workers.FailoverAfter, DefaultFailoverAfter)
	setDuration(&c.Workers.BackoffBase, DefaultBackoffBase)
	setDuration(&c.Workers.BackoffMax, DefaultBackoffMax)

	setString(&c.Log.Level, DefaultLogLevel)
	setString(&c.Log.Format, DefaultLogFormat)
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

func setDuration(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}
