package config

import (
	"time"
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

// DefaultHandlerTimeout is workers.handler_timeout.
const DefaultHandlerTimeout = 2 * time.Minute

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
	// Platforms holds the sections of the platforms registered beyond
	// LiveChat, HelpCrunch and Rocket.Chat, by platform name
	// (platforms.<name>; see Section and RegisterSection): each one's keys
	// are the platform's own. A registered platform left out gets its
	// defaults. Default none.
	Platforms Sections `yaml:"platforms"`

	// moved holds a warning for each setting read under its old name (see
	// movedKeys); WarningsFor reports them.
	moved []string
	// env holds the environment variables that set keys (see Parse).
	env []string
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
	setDuration(&c.Workers.HandlerTimeout, DefaultHandlerTimeout)
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
	c.provisionSections()
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
