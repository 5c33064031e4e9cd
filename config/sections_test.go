package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// section is one server section as its component sees it: its own
// Provision and Validate, nothing of the rest of the configuration.
type section struct {
	name string
	// alone provisions a zero section by itself and returns it, the same
	// section of Default(), and the provisioned section's Validate.
	alone func() (got, want any, validate func() error)
	// of is the Validate of c's section.
	of func(c *Config) error
	// breakOne sets one invalid value in c; wantErr is the problem it makes.
	breakOne func(c *Config)
	wantErr  string
}

// sections lists the server sections in the order of Config.
func sections() []section {
	return []section{
		{"http", func() (any, any, func() error) { s := &HTTP{}; s.Provision(); return *s, Default().HTTP, s.Validate },
			func(c *Config) error { return c.HTTP.Validate() },
			func(c *Config) { c.HTTP.MaxConns = 0 }, "http.max_conns: must be at least 1, got 0"},
		{"nats", func() (any, any, func() error) { s := &NATS{}; s.Provision(); return *s, Default().NATS, s.Validate },
			func(c *Config) error { return c.NATS.Validate() },
			func(c *Config) { c.NATS.Partitions = 2000 }, "nats.partitions: must be between 1 and 1024, got 2000"},
		{"workers", func() (any, any, func() error) {
			s := &Workers{}
			s.Provision()
			return *s, Default().Workers, s.Validate
		},
			func(c *Config) error { return c.Workers.Validate() },
			func(c *Config) { c.Workers.Concurrency = 0 }, "workers.concurrency: must be between 1 and 10000, got 0"},
		{"sweep", func() (any, any, func() error) { s := &Sweep{}; s.Provision(); return *s, Default().Sweep, s.Validate },
			func(c *Config) error { return c.Sweep.Validate() },
			func(c *Config) { c.Sweep.Limit = -1 }, "sweep.limit: must be 0 (no cap) or more, got -1"},
		{"log", func() (any, any, func() error) { s := &Log{}; s.Provision(); return *s, Default().Log, s.Validate },
			func(c *Config) error { return c.Log.Validate() },
			func(c *Config) { c.Log.Level = "loud" }, `log.level: must be one of debug, info, warn, error, got "loud"`},
		{"otel", func() (any, any, func() error) { s := &OTel{}; s.Provision(); return *s, Default().OTel, s.Validate },
			func(c *Config) error { return c.OTel.Validate() },
			func(c *Config) { c.OTel.SampleRatio = 2 }, "otel.sample_ratio: must be between 0 and 1, got 2"},
		{"admin", func() (any, any, func() error) { s := &Admin{}; s.Provision(); return *s, Default().Admin, s.Validate },
			func(c *Config) error { return c.Admin.Validate() },
			func(c *Config) { c.Admin.IdleTimeout = -time.Second }, "admin.idle_timeout: must be a positive duration, got -1s"},
		{"secrets", func() (any, any, func() error) { s := &Secrets{}; return *s, Default().Secrets, s.Validate },
			func(c *Config) error { return c.Secrets.Validate() },
			func(c *Config) { c.Secrets.Keys = []SecretKey{{ID: "k1", Key: "c2hvcnQ="}} },
			"secrets.keys[0].key: key \"k1\": must be 32 bytes, base64-encoded, got 5 bytes (make a key with `openssl rand -base64 32`)"},
		{"breaker", func() (any, any, func() error) {
			s := &Breaker{}
			s.Provision()
			return *s, Default().Breaker, s.Validate
		},
			func(c *Config) error { return c.Breaker.Validate() },
			func(c *Config) { c.Breaker.MinCalls = 0 }, "breaker.min_calls: must be between 1 and 1000000, got 0"},
		{"dlq", func() (any, any, func() error) { s := &DLQ{}; s.Provision(); return *s, Default().DLQ, s.Validate },
			func(c *Config) error { return c.DLQ.Validate() },
			func(c *Config) { c.DLQ.AutoRetryMax = 0 }, "dlq.auto_retry_max: must be between 1 and 1000000, got 0"},
	}
}

func messages(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, fe := range problems(t, err) {
		out = append(out, fe.Error())
	}
	return out
}

// TestSectionsProvisionAndValidateAlone: each server section provisions
// its own defaults, the same as the whole configuration's, and is valid
// alone; a bad value is reported by the section's Validate naming the full
// key, and by Config.Validate in the same words.
func TestSectionsProvisionAndValidateAlone(t *testing.T) {
	for _, s := range sections() {
		t.Run(s.name, func(t *testing.T) {
			got, want, validate := s.alone()
			assert.Equal(t, want, got, "a zero %s section provisioned alone is the default one", s.name)
			require.NoError(t, validate())

			c := Default()
			s.breakOne(c)
			err := s.of(c)
			require.Error(t, err)
			for _, fe := range problems(t, err) {
				assert.True(t, strings.HasPrefix(fe.Key, s.name+"."), "%q names its full key", fe.Key)
			}
			assert.Equal(t, []string{s.wantErr}, messages(t, err))
			assert.Equal(t, []string{s.wantErr}, messages(t, c.Validate()), "Config.Validate reports the section's problem as it is")
		})
	}
}

// TestValidateComposesTheSections: with a problem in every server section,
// Config.Validate reports each section's problem, sections in the order
// their checks run: http, otel, admin, nats, secrets, workers, sweep, log,
// breaker, dlq.
func TestValidateComposesTheSections(t *testing.T) {
	c := Default()
	byName := map[string]string{}
	for _, s := range sections() {
		s.breakOne(c)
		byName[s.name] = s.wantErr
	}
	var want []string
	for _, name := range []string{"http", "otel", "admin", "nats", "secrets", "workers", "sweep", "log", "breaker", "dlq"} {
		want = append(want, byName[name])
	}
	assert.Equal(t, want, messages(t, c.Validate()))
}
