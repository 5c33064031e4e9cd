package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// clitestPlatform is registered the way an adapter package registers a
// platform (docs/platforms.md), once per test binary.
func init() {
	platform.Register(platform.Platform{Name: "clitest", Actions: func() []rules.Action {
		return []rules.Action{rules.Define("clitest.ping", "Nothing.", true,
			func(context.Context, *rules.Call, rules.NoParams) error { return nil })}
	}})
}

// TestRulesCheckKnowsRegisteredPlatforms: `rules check` accepts the
// actions of every registered platform, and only theirs.
func TestRulesCheckKnowsRegisteredPlatforms(t *testing.T) {
	tests := []struct {
		name       string
		step       string
		wantCode   int
		wantOutput string
	}{
		{name: "registered platform's action", step: "clitest.ping: {}", wantCode: 0, wantOutput: ": 1 rule, 0 warnings, all valid"},
		{name: "action it does not have", step: "clitest.pong: {}", wantCode: 1, wantOutput: `unknown action "clitest.pong"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			yaml := "rules:\n  - name: r\n    on: [livechat.chat_deactivated]\n    cross_platform: true\n    then:\n      - " + tt.step + "\n"
			require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
			stdout, stderr, code := runCLI(t, "rules", "check", path)
			assert.Equal(t, tt.wantCode, code, stderr)
			assert.Contains(t, stdout+stderr, tt.wantOutput)
		})
	}
}
