package config

import (
	"time"
)

// Defaults of the platform sections. Those the API clients also have are
// held equal to the clients' constants by TestPlatformDefaultsAreTheClients
// (config imports no platform package: rules, which reads config, must not
// depend on any platform, see internal/layout). The other sections'
// defaults are in their own files, next to the section and its Provision (http.go, nats.go,
// server.go, workers.go). A zero value in the file (or a key left out)
// means "use the default".
const (
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
)

// RedactedValue is what Redacted puts in place of each secret.
const RedactedValue = "REDACTED"

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
	c.Provision()
	return c
}

// Provision sets every zero-valued setting that has a default to that
// default; settings already set are kept. Each section's Provision sets its
// own (the one place each default is applied), in the order of the
// sections; the platforms' follow the server sections.
func (c *Config) Provision() {
	c.HTTP.Provision()
	c.Admin.Provision()
	c.OTel.Provision()
	c.NATS.Provision()

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

	c.Workers.Provision()
	c.Sweep.Provision()
	c.Log.Provision()
	c.Breaker.Provision()
	c.DLQ.Provision()
	c.provisionSections()
}

// ApplyDefaults is Provision, under the name it had first.
func (c *Config) ApplyDefaults() { c.Provision() }

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
