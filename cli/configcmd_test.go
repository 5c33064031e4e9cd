package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/config"
)

func runCLIEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return out.String(), errb.String(), ExitCode(err)
}

func TestConfigPrint(t *testing.T) {
	const file = `
nats: {partitions: 8, password: nats-secret, user: cw}
livechat:
  webhook_secrets: ["${LC_SECRET}"]
  pat: {account_id: acc-1, token: file-pat}
admin: {token: "${TOK}"}
`
	tests := []struct {
		name       string
		file       string // "": no --config
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout []string
		notStdout  []string
		wantStderr []string
	}{
		{
			name:       "defaults without a file",
			args:       []string{"config", "print"},
			wantStdout: []string{"# file: none (defaults)\n", "# environment: none\n", "\n  partitions: 16\n", "\n  addr: 127.0.0.1:9090\n"},
		},
		{
			name: "file, environment and defaults, secrets redacted",
			file: file,
			env: map[string]string{"LC_SECRET": "whsec-file", "TOK": "admin-secret-token",
				"CHATWARDEN_NATS_PARTITIONS": "4", "CHATWARDEN_LIVECHAT_PAT_TOKEN": "env-pat", "CHATWARDEN_LOG_LEVEL": "debug"},
			args: []string{"config", "print", "--config", "FILE"},
			wantStdout: []string{"# file: FILE\n",
				"# environment: CHATWARDEN_NATS_PARTITIONS, CHATWARDEN_LIVECHAT_PAT_TOKEN, CHATWARDEN_LOG_LEVEL\n",
				"\n  partitions: 4\n", "\n  level: debug\n", "\n  user: cw\n", "account_id: acc-1",
				"token: REDACTED", "password: REDACTED", "- REDACTED", "\n  retention: 168h0m0s\n"},
			notStdout: []string{"whsec-file", "admin-secret-token", "env-pat", "file-pat", "nats-secret"},
		},
		{
			name:       "the file from $CHATWARDEN_CONFIG",
			file:       "workers: {concurrency: 5}\n",
			env:        map[string]string{"CHATWARDEN_CONFIG": "FILE"},
			args:       []string{"config", "print"},
			wantStdout: []string{"# file: FILE\n", "\n  concurrency: 5\n"},
		},
		{
			name:       "an invalid file exits 1 with every problem",
			file:       "nats: {partitions: 0, duplicate_window: 7d}\nhttp: {adress: x}\n",
			args:       []string{"config", "print", "--config", "FILE"},
			wantCode:   1,
			wantStderr: []string{"FILE", "http.adress (line 2): unknown key", `nats.duplicate_window (line 1)`},
		},
		{
			name:       "an invalid variable exits 1 naming it",
			env:        map[string]string{"CHATWARDEN_WORKERS_DRY_RUN": "maybe"},
			args:       []string{"config", "print"},
			wantCode:   1,
			wantStderr: []string{"workers.dry_run (from CHATWARDEN_WORKERS_DRY_RUN): must be true or false"},
		},
		{
			name:       "config needs a subcommand",
			args:       []string{"config"},
			wantCode:   2,
			wantStderr: []string{"a subcommand is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "chatwarden.yaml")
				require.NoError(t, os.WriteFile(path, []byte(tt.file), 0o600))
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = strings.ReplaceAll(v, "FILE", path)
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "FILE", path)
			}
			stdout, stderr, code := runCLIEnv(t, env, args...)
			require.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			for _, w := range tt.wantStdout {
				assert.Contains(t, stdout, strings.ReplaceAll(w, "FILE", path))
			}
			for _, w := range tt.notStdout {
				assert.NotContains(t, stdout, w)
			}
			for _, w := range tt.wantStderr {
				assert.Contains(t, stderr, strings.ReplaceAll(w, "FILE", path))
			}
			if code == 0 {
				// What is printed is a configuration file that means the
				// same (with the secrets' values redacted).
				want, err := config.Load(path, func(k string) string { return env[k] })
				require.NoError(t, err)
				again, err := config.Parse([]byte(stdout), nil)
				require.NoError(t, err, "the printed configuration loads")
				assert.Equal(t, marshal(t, want.Redacted()), marshal(t, again))
			}
		})
	}
}

func marshal(t *testing.T, c *config.Config) string {
	t.Helper()
	out, err := yaml.Marshal(c)
	require.NoError(t, err)
	return string(out)
}
