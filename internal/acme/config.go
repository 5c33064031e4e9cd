package acme

import (
	"errors"
	"net/url"
	"time"

	"github.com/chatwarden/chatwarden/config"
)

// DefaultRequestTimeout is platforms.acme.request_timeout's default.
const DefaultRequestTimeout = 10 * time.Second

// Config is the section platforms.acme of the configuration (see
// config.Section): Acme's keys, defaults and checks live here, not in
// package config. Secrets carry a secret tag, so Config.Redacted hides them.
type Config struct {
	// URL is the API's base URL. Required with a token.
	URL string `yaml:"url" secret:"url"`
	// Token authenticates the API calls (a bearer token). Default "": no
	// credentials; acme.* actions fail with "no credentials".
	Token string `yaml:"token" secret:"true"`
	// WebhookToken is compared with X-Acme-Token on each webhook. Default
	// "": every Acme webhook is refused with 401.
	WebhookToken string `yaml:"webhook_token" secret:"true"`
	// RequestTimeout bounds one API call. Default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Provision implements config.Section.
func (c *Config) Provision() {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
}

// Validate implements config.Section.
func (c *Config) Validate() error {
	var errs []error
	if c.Token != "" && c.URL == "" {
		errs = append(errs, config.SectionError("url", "required with a token"))
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.SectionError("url", "must be an http(s) URL such as https://api.acme.example"))
		}
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, config.SectionError("request_timeout", "must be positive, got %s", c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// configOf is the section of cfg (Parse and ApplyDefaults provide it once
// the package is registered).
func configOf(cfg *config.Config) *Config {
	if c, ok := cfg.Platforms[Name].(*Config); ok {
		return c
	}
	c := &Config{}
	c.Provision()
	return c
}
