package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// problems flattens the errors joined in err.
func problems(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		require.ErrorAs(t, e, &fe, "every problem is a *FieldError: %v", e)
		out = append(out, fe)
	}
	walk(err)
	return out
}

func keys(fes []*FieldError) []string {
	var out []string
	for _, fe := range fes {
		out = append(out, fe.Key)
	}
	return out
}

func TestDefault(t *testing.T) {
	c := Default()
	require.NoError(t, c.Validate())

	assert.Equal(t, ":8080", c.HTTP.Addr)
	assert.EqualValues(t, 1048576, c.HTTP.MaxBodyBytes)
	assert.Equal(t, "127.0.0.1:9090", c.Admin.Addr)
	assert.Empty(t, c.Admin.Token)
	assert.False(t, c.Admin.MetricsPublic)
	assert.Equal(t, 5*time.Second, c.HTTP.PublishTimeout)
	assert.Equal(t, 20*time.Second, c.HTTP.ShutdownTimeout)
	assert.Equal(t, []time.Duration{30 * time.Second, 30 * time.Second, 2 * time.Minute},
		[]time.Duration{c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout}, "http read, write and idle timeouts")
	assert.Equal(t, []time.Duration{30 * time.Second, 2 * time.Minute, 2 * time.Minute},
		[]time.Duration{c.Admin.ReadTimeout, c.Admin.WriteTimeout, c.Admin.IdleTimeout}, "admin read, write and idle timeouts")

	assert.Empty(t, c.NATS.URL)
	assert.True(t, c.NATS.Embedded())
	assert.Equal(t, "127.0.0.1:4222", c.NATS.Listen)
	assert.Equal(t, "./data", c.NATS.DataDir)
	assert.Equal(t, 16, c.NATS.Partitions)
	assert.Equal(t, 10*time.Minute, c.NATS.DuplicateWindow)
	assert.Equal(t, 168*time.Hour, c.NATS.Retention)
	assert.Equal(t, 1, c.NATS.Replicas)
	assert.Equal(t, "chatwarden", c.NATS.Name)

	assert.Equal(t, "https://api.livechatinc.com", c.LiveChat.APIURL)
	assert.Empty(t, c.LiveChat.WebhookSecrets)
	assert.False(t, c.LiveChat.HasCredentials())
	assert.Equal(t, 20*time.Second, c.LiveChat.RequestTimeout)
	assert.Equal(t, "https://api.helpcrunch.com", c.HelpCrunch.APIURL)
	assert.Equal(t, 20*time.Second, c.HelpCrunch.RequestTimeout, "livechat.request_timeout's")
	assert.Equal(t, RocketChat{RequestTimeout: 20 * time.Second}, c.RocketChat, "no settings but livechat.request_timeout's")

	assert.Equal(t, Workers{Concurrency: 32, MaxAttempts: 8, AckWait: 10 * time.Second, FailoverAfter: 15 * time.Second,
		BackoffBase: time.Second, BackoffMax: 5 * time.Minute, MaxPendingRechecks: DefaultMaxPendingRechecks, HandlerTimeout: DefaultHandlerTimeout,
		BalanceEvery: 10 * time.Second}, c.Workers)
	assert.Equal(t, "", c.RulesFile, "no file: the built-in examples in dry run")
	assert.Equal(t, Log{Level: "info", Format: "json"}, c.Log)
}

func TestApplyDefaultsKeepsSetValues(t *testing.T) {
	c := &Config{NATS: NATS{Partitions: 4, Listen: ListenOff}, Workers: Workers{AckWait: time.Minute}}
	c.ApplyDefaults()
	assert.Equal(t, 4, c.NATS.Partitions)
	assert.Equal(t, ListenOff, c.NATS.Listen)
	assert.Equal(t, time.Minute, c.Workers.AckWait)
	assert.Equal(t, 32, c.Workers.Concurrency, "unset values get defaults")
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name, yaml string
	}{
		{"empty file", ""},
		{"only comments", "# nothing here\n"},
		{"null document", "~\n"},
		{"empty sections", "http:\nnats: {}\nlivechat:\nworkers: {}\nlog:\n"},
		{"zero values", `
http: {addr: "", max_body_bytes: 0, publish_timeout: 0s}
nats: {listen: "", partitions: 0, retention: "", replicas: 0}
livechat: {webhook_secrets: [], organizations: {}}
workers: {concurrency: 0, dry_run: false}
rules_file: ""
log: {level: "", format: ""}
`},
		{"unset variables", `
http:
  addr: "${ADDR}"
  max_body_bytes: ${MAX}
nats:
  partitions: "${PARTITIONS}"
  retention: ${RETENTION}
livechat: {webhook_secrets: ["${SECRET}"]}
workers:
  dry_run: ${DRY_RUN}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), env())
			require.NoError(t, err)
			assert.Equal(t, Default(), c)
		})
	}
}

func TestParseValues(t *testing.T) {
	c, err := Parse([]byte(`
http:
  addr: "127.0.0.1:9000"
  max_body_bytes: 2048
  publish_timeout: 1500ms
  shutdown_timeout: 1m
  read_timeout: 7s
  write_timeout: 8s
  idle_timeout: 9s
nats:
  url: nats://a:4222,nats://b:4222
  partitions: 64
  duplicate_window: 2m
  retention: 720h
  replicas: 3
  user: chatwarden
  password: pw
  tls: {ca_file: /ca.pem}
  name: cw-1
livechat:
  api_url: http://127.0.0.1:9999
  webhook_secrets: [new, old]
  pat: {account_id: acc, token: tok}
  organizations:
    org-1: {token: "fra:abc"}
    org-2: {pat: {account_id: acc2, token: tok2}}
  request_timeout: 3s
workers: {concurrency: 4, max_attempts: 2, ack_wait: 10s, backoff_base: 100ms, backoff_max: 1s, dry_run: true, balance_every: 3s}
rules_file: /etc/chatwarden/rules.yaml
log: {level: debug, format: console}
admin: {addr: "0.0.0.0:9091", token: s3cret-admin-token-value, metrics_public: true, read_timeout: 4s, write_timeout: 5m, idle_timeout: 6s}
`), env())
	require.NoError(t, err)

	assert.Equal(t, Admin{Addr: "0.0.0.0:9091", Token: "s3cret-admin-token-value", MetricsPublic: true,
		ReadTimeout: 4 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: 6 * time.Second}, c.Admin)
	assert.Equal(t, HTTP{Addr: "127.0.0.1:9000", MaxBodyBytes: 2048,
		PublishTimeout: 1500 * time.Millisecond, ShutdownTimeout: time.Minute, MaxInflightBytes: 64 << 20, MaxInflight: 256,
		HeaderTimeout: 5 * time.Second, BodyTimeout: 5 * time.Second, MaxConnsPerIP: 256, MaxInflightPerIP: 64, MaxConns: 4096,
		ReadTimeout: 7 * time.Second, WriteTimeout: 8 * time.Second, IdleTimeout: 9 * time.Second}, c.HTTP)
	assert.Equal(t, "nats://a:4222,nats://b:4222", c.NATS.URL)
	assert.False(t, c.NATS.Embedded())
	assert.Equal(t, 64, c.NATS.Partitions)
	assert.Equal(t, 720*time.Hour, c.NATS.Retention)
	assert.Equal(t, 3, c.NATS.Replicas)
	assert.Equal(t, "/ca.pem", c.NATS.TLS.CAFile)
	assert.Equal(t, []string{"new", "old"}, c.LiveChat.WebhookSecrets)
	assert.Equal(t, PAT{AccountID: "acc", Token: "tok"}, c.LiveChat.PAT)
	assert.Equal(t, map[string]Credentials{
		"org-1": {Token: "fra:abc"},
		"org-2": {PAT: PAT{AccountID: "acc2", Token: "tok2"}},
	}, c.LiveChat.Organizations)
	assert.Equal(t, Workers{Concurrency: 4, MaxAttempts: 2, AckWait: 10 * time.Second, FailoverAfter: 15 * time.Second,
		BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second, DryRun: true, MaxPendingRechecks: DefaultMaxPendingRechecks, HandlerTimeout: DefaultHandlerTimeout,
		BalanceEvery: 3 * time.Second}, c.Workers)
	assert.Equal(t, Log{Level: "debug", Format: "console"}, c.Log)

	cred, ok := c.LiveChat.CredentialsFor("org-1")
	assert.True(t, ok)
	assert.Equal(t, Credentials{Token: "fra:abc"}, cred)
	cred, ok = c.LiveChat.CredentialsFor("unknown-org")
	assert.True(t, ok)
	assert.Equal(t, Credentials{PAT: PAT{AccountID: "acc", Token: "tok"}}, cred, "falls back to the top-level credentials")
}

func TestParseEnv(t *testing.T) {
	getenv := env(
		"NATS_URL", "nats://nats:4222",
		"PARTITIONS", "32",
		"DRY_RUN", "true",
		"SECRET", "s1",
		"WEIRD", `a"b: #c\n'd {e}`,
		"NULLISH", "null",
		"NUMERIC", "12345",
		"RETENTION", "48h",
	)
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"plain string", "nats:\n  url: ${NATS_URL}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "nats://nats:4222", c.NATS.URL)
		}},
		{"inside a longer value", "nats:\n  data_dir: /var/${UNSET:-lib}/cw\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "/var/lib/cw", c.NATS.DataDir)
		}},
		{"unquoted number", "nats:\n  partitions: ${PARTITIONS}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, 32, c.NATS.Partitions)
		}},
		{"quoted number", `nats: {partitions: "${PARTITIONS}"}`, func(t *testing.T, c *Config) {
			assert.Equal(t, 32, c.NATS.Partitions)
		}},
		{"unquoted bool", "workers:\n  dry_run: ${DRY_RUN}\n", func(t *testing.T, c *Config) {
			assert.True(t, c.Workers.DryRun)
		}},
		{"default of a bool", "workers:\n  dry_run: ${UNSET:-true}\n", func(t *testing.T, c *Config) {
			assert.True(t, c.Workers.DryRun)
		}},
		{"duration", "nats:\n  retention: ${RETENTION}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, 48*time.Hour, c.NATS.Retention)
		}},
		{"default of a duration", "nats:\n  retention: ${UNSET:-24h}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, 24*time.Hour, c.NATS.Retention)
		}},
		{"special characters are not YAML", "admin:\n  token: ${WEIRD}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, `a"b: #c\n'd {e}`, c.Admin.Token)
		}},
		{"value reading as null stays text", "admin:\n  token: ${NULLISH}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "null", c.Admin.Token)
		}},
		{"value reading as number stays its text", "admin:\n  token: ${NUMERIC}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "12345", c.Admin.Token)
		}},
		{"unset is empty", "rocketchat:\n  webhook_token: x${UNSET}y\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "xy", c.RocketChat.WebhookToken)
		}},
		{"escaped dollar", `admin: {token: "pa$$${UNSET}word$"}`, func(t *testing.T, c *Config) {
			assert.Equal(t, "pa$word$", c.Admin.Token)
		}},
		{"quoted empty number is the default", `nats: {partitions: "${UNSET}"}`, func(t *testing.T, c *Config) {
			assert.Equal(t, DefaultPartitions, c.NATS.Partitions)
		}},
		{"quoted bool", `workers: {dry_run: "${DRY_RUN}"}`, func(t *testing.T, c *Config) {
			assert.True(t, c.Workers.DryRun)
		}},
		{"quoted literal number", `nats: {partitions: "8"}`, func(t *testing.T, c *Config) {
			assert.Equal(t, 8, c.NATS.Partitions)
		}},
		{"explicit string tag keeps text", "admin:\n  token: !!str ${UNSET:-null}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "null", c.Admin.Token)
		}},
		{"empty secrets are dropped", `livechat: {webhook_secrets: ["${UNSET}", "${SECRET}", "", "${UNSET2}"]}`, func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"s1"}, c.LiveChat.WebhookSecrets)
		}},
		{"unquoted unset secret is dropped", "livechat:\n  webhook_secrets:\n    - ${UNSET}\n", func(t *testing.T, c *Config) {
			assert.Nil(t, c.LiveChat.WebhookSecrets)
		}},
		{"keys are not expanded", "livechat: {organizations: {\"${SECRET}\": {token: t}}}", func(t *testing.T, c *Config) {
			assert.Contains(t, c.LiveChat.Organizations, "${SECRET}")
		}},
		{"comments are not expanded", "# ${UNCLOSED\nnats:\n  url: ${NATS_URL} # ${ALSO:?not checked}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "nats://nats:4222", c.NATS.URL)
		}},
		{"anchors expand once", "admin: {token: &t \"$$${SECRET}-long-enough-token\"}\nrocketchat: {webhook_token: *t}", func(t *testing.T, c *Config) {
			assert.Equal(t, "$s1-long-enough-token", c.Admin.Token)
			assert.Equal(t, "$s1-long-enough-token", c.RocketChat.WebhookToken)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), getenv)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestParseNeverUsesProcessEnvironment(t *testing.T) {
	t.Setenv("CHATWARDEN_TEST_URL", "nats://from-process:4222")
	c, err := Parse([]byte("nats:\n  url: ${CHATWARDEN_TEST_URL}\n"), nil)
	require.NoError(t, err)
	assert.Empty(t, c.NATS.URL)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		kind error
		// want are the messages of the problems, in order.
		want []string
	}{
		{"unknown top-level key", "htp:\n  addr: :80\n", ErrUnknownKey,
			[]string{`htp (line 1): unknown key; did you mean "http"?`}},
		{"unknown nested key", "nats:\n  url: nats://x:4222\n  partiton: 3\n", ErrUnknownKey,
			[]string{`nats.partiton (line 3): unknown key; did you mean "nats.partitions"?`}},
		{"camel case key", "http:\n  maxBodyBytes: 2048\n", ErrUnknownKey,
			[]string{`http.maxBodyBytes (line 2): unknown key; did you mean "http.max_body_bytes"?`}},
		{"unknown key without suggestion", "workers:\n  colour: blue\n", ErrUnknownKey,
			[]string{`workers.colour (line 2): unknown key`}},
		{"unknown key in organization", "livechat:\n  organizations:\n    org1:\n      tokn: x\n", ErrUnknownKey,
			[]string{`livechat.organizations.org1.tokn (line 4): unknown key; did you mean "livechat.organizations.org1.token"?`}},
		{"several unknown keys", "foo: 1\nlog:\n  lvl: info\n", ErrUnknownKey,
			[]string{`foo (line 1): unknown key`, `log.lvl (line 3): unknown key`}},
		{"key of another section", "http:\n  partitions: 3\n", ErrUnknownKey,
			[]string{`http.partitions (line 2): unknown key`}},
		{"duplicate key", "http:\n  addr: :1\n  addr: :2\n", ErrDuplicateKey,
			[]string{`http.addr (line 3): given more than once (first on line 2)`}},
		{"duplicate organization", "livechat:\n  organizations:\n    o: {token: a}\n    o: {token: b}\n", ErrDuplicateKey,
			[]string{`livechat.organizations.o (line 4): given more than once (first on line 3)`}},
		{"text for a number", "nats:\n  partitions: many\n", ErrWrongType,
			[]string{`nats.partitions (line 2): must be a whole number, got "many"`}},
		{"fraction for a number", "workers:\n  concurrency: 1.5\n", ErrWrongType,
			[]string{`workers.concurrency (line 2): must be a whole number, got "1.5"`}},
		{"text for a bool", "workers:\n  dry_run: maybe\n", ErrWrongType,
			[]string{`workers.dry_run (line 2): must be true or false, got "maybe"`}},
		{"list for a section", "log: [info]\n", ErrWrongType,
			[]string{`log (line 1): must be a mapping of settings (key: value), got a list`}},
		{"value for a section", "nats: nats://x:4222\n", ErrWrongType,
			[]string{`nats (line 1): must be a mapping of settings (key: value), got a single value`}},
		{"single value for a list", "livechat:\n  webhook_secrets: abc\n", ErrWrongType,
			[]string{`livechat.webhook_secrets (line 2): must be a list, e.g. ["a", "b"], got a single value`}},
		{"mapping for a value", "http:\n  addr: {host: x}\n", ErrWrongType,
			[]string{`http.addr (line 2): must be text, got a mapping`}},
		{"top level is a list", "- a\n", ErrWrongType,
			[]string{`(top level) (line 1): must be a mapping of settings (key: value), got a list`}},
		{"required variable", "nats:\n  url: ${NATS_URL:?point it at the NATS server}\n", ErrEnv,
			[]string{`nats.url (line 2): environment variable NATS_URL is empty or unset: point it at the NATS server`}},
		{"malformed reference", "admin:\n  token: ${TOKEN\n", ErrEnv,
			[]string{`admin.token (line 2): ${ without a closing }`}},
		{"env error is not also a type error", "workers:\n  dry_run: ${X:?need X}\n", ErrEnv,
			[]string{`workers.dry_run (line 2): environment variable X is empty or unset: need X`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env())
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			var got []string
			for _, fe := range problems(t, err) {
				got = append(got, fe.Error())
				assert.Positive(t, fe.Line, "a decoding problem knows its line")
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseDurations(t *testing.T) {
	tests := []struct {
		name, value string
		want        time.Duration
		wantErr     string
	}{
		{"minutes", "10m", 10 * time.Minute, ""},
		{"hours", "168h", 168 * time.Hour, ""},
		{"combined", "1h30m", 90 * time.Minute, ""},
		{"quoted", `"45s"`, 45 * time.Second, ""},
		{"milliseconds", "1500ms", 1500 * time.Millisecond, ""},
		{"days", "7d", 0, `invalid duration "7d": durations have no days unit; write hours, e.g. "168h"`},
		{"number without unit", "30", 0, `invalid duration "30": a unit is required, e.g. "30s"`},
		{"quoted number without unit", `"30"`, 0, `invalid duration "30": a unit is required, e.g. "30s"`},
		{"garbage", "soon", 0, `invalid duration "soon": write a number with a unit (ns, us, ms, s, m, h)`},
		{"list", "[1s]", 0, `must be a duration such as "30s", "10m" or "168h", got a list`},
		{"negative is a validation error", "-1m", 0, `http.shutdown_timeout: must be a positive duration, got -1m0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("http:\n  shutdown_timeout: "+tt.value+"\n"), env())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "http.shutdown_timeout")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.HTTP.ShutdownTimeout)
		})
	}
}

func TestParseMultipleDocuments(t *testing.T) {
	_, err := Parse([]byte("http: {addr: ':1'}\n---\nhttp: {addr: ':2'}\n"), env())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "second document")
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse([]byte("http:\n  addr: [unclosed\n"), env())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parsing YAML")
}

// TestParseSyntaxErrorLine checks that a YAML parser error names the line
// it is on, though yaml.v3 counts it from 0.
func TestParseSyntaxErrorLine(t *testing.T) {
	_, err := Parse([]byte("http:\n  addr: ':1'\n max_body_bytes: 4096\n"), env())
	require.Error(t, err)
	assert.EqualError(t, err, "parsing YAML: yaml: line 3: did not find expected key")
}

func TestParseMergeKeys(t *testing.T) {
	c, err := Parse([]byte(`
x-creds: &creds {pat: {account_id: acc, token: tok}}
`), env())
	require.Error(t, err, "extension keys are unknown keys")
	assert.Nil(t, c)

	c, err = Parse([]byte(`
livechat:
  organizations:
    org-a: &base {token: "dal:a"}
    org-b:
      <<: *base
      token: "fra:b"
`), env())
	require.NoError(t, err)
	assert.Equal(t, "fra:b", c.LiveChat.Organizations["org-b"].Token)

	_, err = Parse([]byte(`
livechat:
  organizations:
    org-a: &base {tokn: "dal:a"}
`), env())
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnknownKey)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}

	t.Run("no path is the defaults", func(t *testing.T) {
		c, err := Load("", env())
		require.NoError(t, err)
		assert.Equal(t, Default(), c)
	})
	t.Run("file", func(t *testing.T) {
		p := write("ok.yaml", "nats:\n  url: ${NATS_URL}\n")
		c, err := Load(p, env("NATS_URL", "nats://n:4222"))
		require.NoError(t, err)
		assert.Equal(t, "nats://n:4222", c.NATS.URL)
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "nope.yaml"), env())
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "nope.yaml")
	})
	t.Run("errors name the file and every key", func(t *testing.T) {
		p := write("bad.yaml", "nats:\n  partitions: 5000\n  replicas: 9\n")
		_, err := Load(p, env())
		require.Error(t, err)
		msg := err.Error()
		assert.True(t, strings.HasPrefix(msg, "config file "+p+": "), msg)
		assert.Contains(t, msg, "nats.partitions: must be between 1 and 1024, got 5000")
		assert.Contains(t, msg, "nats.replicas: must be between 1 and 5, got 9")
		assert.ErrorIs(t, err, ErrInvalid)
	})
}

// The example at the repository root documents every key; it must load with
// no environment at all.
func TestExampleLoads(t *testing.T) {
	const example = "../chatwarden.example.yaml"

	c, err := Load(example, env())
	require.NoError(t, err)
	assert.Equal(t, Default(), c, "the example shows the defaults")

	c, err = Load(example, env(
		"NATS_URL", "nats://nats:4222",
		"LIVECHAT_WEBHOOK_SECRET", "new-secret",
		"LIVECHAT_WEBHOOK_SECRET_PREVIOUS", "old-secret",
		"LIVECHAT_ACCOUNT_ID", "acc",
		"LIVECHAT_PAT", "pat-token",
		"CHATWARDEN_DRY_RUN", "true",
		"CHATWARDEN_LOG_LEVEL", "debug",
	))
	require.NoError(t, err)
	assert.Equal(t, "nats://nats:4222", c.NATS.URL)
	assert.Equal(t, []string{"new-secret", "old-secret"}, c.LiveChat.WebhookSecrets)
	assert.Equal(t, PAT{AccountID: "acc", Token: "pat-token"}, c.LiveChat.PAT)
	assert.True(t, c.Workers.DryRun)
	assert.Equal(t, "debug", c.Log.Level)

	t.Run("lists every key", func(t *testing.T) {
		data, err := os.ReadFile(example)
		require.NoError(t, err)
		for _, key := range allKeys(configType, "") {
			leaf := key[strings.LastIndex(key, ".")+1:]
			assert.Contains(t, string(data), "\n"+strings.Repeat(" ", 2*strings.Count(key, "."))+leaf+":",
				"chatwarden.example.yaml should document %s", key)
		}
	})
}

func TestErrorsAreFieldErrors(t *testing.T) {
	_, err := Parse([]byte("nats: {partitions: 2000}\n"), env())
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "nats.partitions", fe.Key)
	assert.Zero(t, fe.Line, "validation sees no file")
	assert.True(t, errors.Is(err, ErrInvalid))
}

func TestParseAliasBomb(t *testing.T) {
	// Each organization merges the previous one ten times: 10^8 mappings
	// if every alias were followed.
	var b strings.Builder
	b.WriteString("livechat:\n  organizations:\n    o0: &a0 {token: x}\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "    o%d: &a%d {<<: [%s]}\n", i, i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9)+fmt.Sprintf("*a%d", i-1))
	}
	done := make(chan error, 1)
	go func() {
		_, err := Parse([]byte(b.String()), env())
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "livechat.organizations.o")
		assert.Contains(t, err.Error(), "too many values")
	case <-time.After(10 * time.Second):
		t.Fatal("Parse did not stop an alias bomb")
	}
}

func TestParseOAuth(t *testing.T) {
	c, err := Parse([]byte(`
livechat:
  oauth: {client_id: app-1, client_secret: "${SECRET}", refresh_token: "${REFRESH}"}
  organizations:
    org-a: {refresh_token: ra}
  owner_client_id: owner-1
`), env("SECRET", "sec", "REFRESH", "r0"))
	require.NoError(t, err)
	assert.Equal(t, OAuth{ClientID: "app-1", ClientSecret: "sec", RefreshToken: "r0", AccountsURL: DefaultAccountsURL}, c.LiveChat.OAuth)
	assert.Equal(t, "owner-1", c.LiveChat.OwnerClientID)
	assert.True(t, c.LiveChat.HasCredentials())

	cred, ok := c.LiveChat.CredentialsFor("org-a")
	assert.True(t, ok)
	assert.Equal(t, Credentials{RefreshToken: "ra"}, cred)
	cred, ok = c.LiveChat.CredentialsFor("org-b")
	assert.True(t, ok)
	assert.Equal(t, Credentials{RefreshToken: "r0"}, cred, "the top-level refresh token is the default")

	_, err = Parse([]byte("livechat:\n  oauth: {client_id: x, clientsecret: y}\n"), env())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "livechat.oauth.clientsecret")
}

// A key that moved keeps working under its old name, with a warning naming
// the new one; both names at once is an error.
func TestMovedKeys(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		token   string
		warning string
		err     string
	}{
		{"old name only", "http:\n  addr: \":8080\"\n  admin_token: old-name-token-0123\n", "old-name-token-0123",
			"http.admin_token (line 3) has moved to admin.token; it is still read under its old name: rename it", ""},
		{"old name, admin section present", "admin: {addr: \"127.0.0.1:9999\"}\nhttp: {admin_token: \"${TOKEN}\"}\n", "from-the-environment",
			"http.admin_token (line 2) has moved to admin.token", ""},
		{"new name only", "admin:\n  token: new-name-token-0123\n", "new-name-token-0123", "", ""},
		{"both names", "http: {admin_token: a-token-0123456789}\nadmin: {token: b-token-0123456789}\n", "", "",
			"admin.token (line 2): also given under its old name http.admin_token (line 1); keep admin.token only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), env("TOKEN", "from-the-environment"))
			if tt.err != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrDuplicateKey)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.token, c.Admin.Token)
			moved := slices.DeleteFunc(c.Warnings(), func(w string) bool { return !strings.Contains(w, "moved") })
			if tt.warning == "" {
				assert.Empty(t, moved)
			} else {
				require.Len(t, moved, 1)
				assert.Contains(t, moved[0], tt.warning)
			}
		})
	}
}

// A non-loopback admin listener needs a token; loopback or off does not.
func TestAdminAddrNeedsTokenOffLoopback(t *testing.T) {
	tests := []struct {
		name, addr, token string
		ok                bool
	}{
		{"default loopback", "127.0.0.1:9090", "", true},
		{"localhost", "localhost:9090", "", true},
		{"IPv6 loopback", "[::1]:9090", "", true},
		{"off", "off", "", true},
		{"every interface", ":9090", "", false},
		{"any address", "0.0.0.0:9090", "", false},
		{"private address", "10.0.0.5:9090", "", false},
		{"every interface with a token", ":9090", "0123456789abcdef0123", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Admin.Addr, c.Admin.Token = tt.addr, tt.token
			err := c.Validate()
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), "admin.token: required when admin.addr")
		})
	}
}

// helpcrunch.request_timeout and rocketchat.request_timeout time their
// platform's requests; left out, they keep livechat.request_timeout, which
// timed every platform before they existed.
func TestPlatformRequestTimeouts(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		getenv     map[string]string
		hc, rc, lc time.Duration
	}{
		{"defaults", "", nil, 20 * time.Second, 20 * time.Second, 20 * time.Second},
		{"livechat's raised", "livechat: {request_timeout: 45s}", nil, 45 * time.Second, 45 * time.Second, 45 * time.Second},
		{"each its own", "livechat: {request_timeout: 45s}\nhelpcrunch: {request_timeout: 5s}\nrocketchat: {request_timeout: 7s}", nil,
			5 * time.Second, 7 * time.Second, 45 * time.Second},
		{"from the environment", "", map[string]string{"CHATWARDEN_ROCKETCHAT_REQUEST_TIMEOUT": "9s"},
			20 * time.Second, 9 * time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), func(k string) string { return tt.getenv[k] })
			require.NoError(t, err)
			assert.Equal(t, tt.hc, c.HelpCrunch.RequestTimeout, "helpcrunch.request_timeout")
			assert.Equal(t, tt.rc, c.RocketChat.RequestTimeout, "rocketchat.request_timeout")
			assert.Equal(t, tt.lc, c.LiveChat.RequestTimeout, "livechat.request_timeout")
			assert.Equal(t, tt.rc, c.PlatformTimeout(c.RocketChat.RequestTimeout))
		})
	}
	assert.Equal(t, 20*time.Second, Default().PlatformTimeout(0), "0: livechat.request_timeout")
}
