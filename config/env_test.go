package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvironmentSetsKeys(t *testing.T) {
	tests := []struct {
		name     string
		file     string // "": no file
		env      []string
		check    func(t *testing.T, c *Config)
		wantVars []string // EnvOverrides
	}{
		{
			name: "webhook secrets without a file, comma-separated",
			env:  []string{"CHATWARDEN_LIVECHAT_WEBHOOK_SECRETS", "new-secret, old-secret,,"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, []string{"new-secret", "old-secret"}, c.LiveChat.WebhookSecrets)
				want := Default()
				want.LiveChat.WebhookSecrets = c.LiveChat.WebhookSecrets
				want.env = c.env
				assert.Equal(t, want, c, "everything else is the default")
			},
			wantVars: []string{"CHATWARDEN_LIVECHAT_WEBHOOK_SECRETS"},
		},
		{
			name: "environment over file",
			file: "nats: {partitions: 8, retention: 24h}\n",
			env:  []string{"CHATWARDEN_NATS_PARTITIONS", "4"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, 4, c.NATS.Partitions)
				assert.Equal(t, 24*time.Hour, c.NATS.Retention, "the file's other keys stay")
			},
			wantVars: []string{"CHATWARDEN_NATS_PARTITIONS"},
		},
		{
			name: "nested keys",
			env:  []string{"CHATWARDEN_LIVECHAT_PAT_ACCOUNT_ID", "acc", "CHATWARDEN_LIVECHAT_PAT_TOKEN", "pat", "CHATWARDEN_NATS_TLS_CA_FILE", "/ca.pem"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, PAT{AccountID: "acc", Token: "pat"}, c.LiveChat.PAT)
				assert.Equal(t, "/ca.pem", c.NATS.TLS.CAFile)
			},
			wantVars: []string{"CHATWARDEN_NATS_TLS_CA_FILE", "CHATWARDEN_LIVECHAT_PAT_ACCOUNT_ID", "CHATWARDEN_LIVECHAT_PAT_TOKEN"},
		},
		{
			name: "every type: duration, boolean, number, top-level text",
			env: []string{"CHATWARDEN_WORKERS_ACK_WAIT", "12s", "CHATWARDEN_WORKERS_DRY_RUN", "true",
				"CHATWARDEN_OTEL_SAMPLE_RATIO", "0.5", "CHATWARDEN_RULES_FILE", "/etc/rules.yaml", "CHATWARDEN_HTTP_MAX_BODY_BYTES", "2048"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, 12*time.Second, c.Workers.AckWait)
				assert.True(t, c.Workers.DryRun)
				assert.InDelta(t, 0.5, c.OTel.SampleRatio, 1e-9)
				assert.Equal(t, "/etc/rules.yaml", c.RulesFile)
				assert.Equal(t, int64(2048), c.HTTP.MaxBodyBytes)
			},
			wantVars: []string{"CHATWARDEN_HTTP_MAX_BODY_BYTES", "CHATWARDEN_WORKERS_ACK_WAIT", "CHATWARDEN_WORKERS_DRY_RUN",
				"CHATWARDEN_RULES_FILE", "CHATWARDEN_OTEL_SAMPLE_RATIO"},
		},
		{
			name: "server timeouts and the balancing period",
			env: []string{"CHATWARDEN_HTTP_IDLE_TIMEOUT", "45s", "CHATWARDEN_ADMIN_WRITE_TIMEOUT", "5m",
				"CHATWARDEN_WORKERS_BALANCE_EVERY", "3s"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, 45*time.Second, c.HTTP.IdleTimeout)
				assert.Equal(t, 5*time.Minute, c.Admin.WriteTimeout)
				assert.Equal(t, 3*time.Second, c.Workers.BalanceEvery)
			},
			wantVars: []string{"CHATWARDEN_HTTP_IDLE_TIMEOUT", "CHATWARDEN_WORKERS_BALANCE_EVERY", "CHATWARDEN_ADMIN_WRITE_TIMEOUT"},
		},
		{
			name: "lists of numbers and addresses",
			env:  []string{"CHATWARDEN_SWEEP_GROUPS", "1, 7", "CHATWARDEN_HTTP_TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, []int{1, 7}, c.Sweep.Groups)
				assert.Equal(t, []string{"10.0.0.0/8", "192.168.1.1"}, c.HTTP.TrustedProxies)
			},
			wantVars: []string{"CHATWARDEN_HTTP_TRUSTED_PROXIES", "CHATWARDEN_SWEEP_GROUPS"},
		},
		{
			name: "a text setting keeps what looks like a number or null, and no ${} is expanded",
			env:  []string{"CHATWARDEN_ADMIN_TOKEN", "0123", "CHATWARDEN_LIVECHAT_TOKEN", "null", "CHATWARDEN_NATS_TOKEN", "pa${X}ss", "X", "1"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, "0123", c.Admin.Token)
				assert.Equal(t, "null", c.LiveChat.Token)
				assert.Equal(t, "pa${X}ss", c.NATS.Token)
			},
			wantVars: []string{"CHATWARDEN_NATS_TOKEN", "CHATWARDEN_LIVECHAT_TOKEN", "CHATWARDEN_ADMIN_TOKEN"},
		},
		{
			name: "an empty variable sets nothing",
			file: "nats: {partitions: 8}\n",
			env:  []string{"CHATWARDEN_NATS_PARTITIONS", ""},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, 8, c.NATS.Partitions)
			},
		},
		{
			name: "variables that name no key set nothing",
			env: []string{"CHATWARDEN_CONFIG", "/x.yaml", "CHATWARDEN_DRY_RUN", "true", "CHATWARDEN_SECRETS_KEY", "k",
				"CHATWARDEN_LIVECHAT_ORGANIZATIONS", "x", "CHATWARDEN_SECRETS_KEYS", "k", "CHATWARDEN_NATS", "x"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, Default(), c)
			},
		},
		{
			name: "the file's ${} references still expand, the key's own variable wins",
			file: "log: {level: \"${CHATWARDEN_LOG_LEVEL:-info}\", format: \"${FORMAT}\"}\n",
			env:  []string{"CHATWARDEN_LOG_LEVEL", "debug", "FORMAT", "console"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, Log{Level: "debug", Format: "console"}, c.Log)
			},
			wantVars: []string{"CHATWARDEN_LOG_LEVEL"},
		},
		{
			name: "a moved key in the file and its new name in the environment",
			file: "http: {admin_token: from-file}\n",
			env:  []string{"CHATWARDEN_ADMIN_TOKEN", "from-env"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, "from-env", c.Admin.Token)
			},
			wantVars: []string{"CHATWARDEN_ADMIN_TOKEN"},
		},
		{
			name: "an empty section in the file",
			file: "nats:\n",
			env:  []string{"CHATWARDEN_NATS_PARTITIONS", "2"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, 2, c.NATS.Partitions)
			},
			wantVars: []string{"CHATWARDEN_NATS_PARTITIONS"},
		},
		{
			name: "a section that is an alias: the anchor's other uses keep the file's value",
			file: "livechat:\n  pat: &p {account_id: acc, token: file-token}\n  organizations:\n    org1: {pat: *p}\n",
			env:  []string{"CHATWARDEN_LIVECHAT_PAT_TOKEN", "env-token"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, PAT{AccountID: "acc", Token: "file-token"}, c.LiveChat.Organizations["org1"].PAT)
				assert.Equal(t, PAT{AccountID: "acc", Token: "env-token"}, c.LiveChat.PAT)
			},
			wantVars: []string{"CHATWARDEN_LIVECHAT_PAT_TOKEN"},
		},
		{
			name: "a section that aliases another: the anchor keeps the file's value",
			file: "livechat:\n  organizations:\n    org1: {pat: &p {account_id: acc, token: file-token}}\n  pat: *p\n",
			env:  []string{"CHATWARDEN_LIVECHAT_PAT_TOKEN", "env-token"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, PAT{AccountID: "acc", Token: "file-token"}, c.LiveChat.Organizations["org1"].PAT)
				assert.Equal(t, PAT{AccountID: "acc", Token: "env-token"}, c.LiveChat.PAT)
			},
			wantVars: []string{"CHATWARDEN_LIVECHAT_PAT_TOKEN"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "chatwarden.yaml")
				require.NoError(t, os.WriteFile(path, []byte(tt.file), 0o600))
			}
			c, err := Load(path, env(tt.env...))
			require.NoError(t, err)
			tt.check(t, c)
			assert.Equal(t, tt.wantVars, c.EnvOverrides())
		})
	}
}

func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want []string
		kind error
	}{
		{"not a number", "", []string{"CHATWARDEN_NATS_PARTITIONS", "four"},
			[]string{`nats.partitions (from CHATWARDEN_NATS_PARTITIONS): must be a whole number, got "four"`}, ErrWrongType},
		{"out of range", "nats: {partitions: 8}\n", []string{"CHATWARDEN_NATS_PARTITIONS", "2000"},
			[]string{"nats.partitions (from CHATWARDEN_NATS_PARTITIONS): must be between 1 and 1024, got 2000"}, ErrInvalid},
		{"a duration in days", "", []string{"CHATWARDEN_NATS_RETENTION", "7d"},
			[]string{`nats.retention (from CHATWARDEN_NATS_RETENTION): invalid duration "7d"`, `"168h"`}, ErrWrongType},
		{"not a boolean", "", []string{"CHATWARDEN_WORKERS_DRY_RUN", "maybe"},
			[]string{`workers.dry_run (from CHATWARDEN_WORKERS_DRY_RUN): must be true or false`}, ErrWrongType},
		{"a bad list entry", "", []string{"CHATWARDEN_SWEEP_GROUPS", "1,x"},
			[]string{`sweep.groups[1] (from CHATWARDEN_SWEEP_GROUPS): must be a whole number, got "x"`}, ErrWrongType},
		{"a file error and a variable error together", "nats: {replicas: x}\n", []string{"CHATWARDEN_NATS_PARTITIONS", "four"},
			[]string{`nats.replicas (line 1): must be a whole number`, `nats.partitions (from CHATWARDEN_NATS_PARTITIONS)`}, ErrWrongType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "chatwarden.yaml")
				require.NoError(t, os.WriteFile(path, []byte(tt.file), 0o600))
			}
			_, err := Load(path, env(tt.env...))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.True(t, errors.Is(err, tt.kind), "%v", err)
		})
	}
}

// Every key of a single value or list of values has a variable, and no two
// keys share one.
func TestEveryKeyHasOneVariable(t *testing.T) {
	keys, vars := EnvKeys()
	byVar := map[string]string{}
	for i, v := range vars {
		if other, dup := byVar[v]; dup {
			t.Errorf("%s and %s share the variable %s", other, keys[i], v)
		}
		byVar[v] = keys[i]
	}
	for _, key := range allKeys(configType, "") {
		if key == "livechat.organizations" || key == "secrets.keys" || key == "platforms" {
			assert.NotContains(t, keys, key, "maps and lists of mappings are set in the file")
			continue
		}
		assert.Contains(t, keys, key)
		assert.Equal(t, key, byVar["CHATWARDEN_"+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))])
	}
}
