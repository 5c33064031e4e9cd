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
	}, WebhookActions: []string{"opened", "closed"}})
}

// TestRulesCheckKnowsRegisteredPlatforms: `rules check` accepts the
// actions and webhook actions of every registered platform, and judges
// them like the shipped platforms'.
func TestRulesCheckKnowsRegisteredPlatforms(t *testing.T) {
	tests := []struct {
		name       string
		on, extra  string
		step       string
		wantCode   int
		wantOutput string
	}{
		{name: "registered platform's action", on: "livechat.chat_deactivated", extra: "    cross_platform: true\n",
			step: "clitest.ping: {}", wantCode: 0, wantOutput: ": 1 rule, 0 warnings, all valid"},
		{name: "action it does not have", on: "livechat.chat_deactivated", extra: "    cross_platform: true\n",
			step: "clitest.pong: {}", wantCode: 1, wantOutput: `unknown action "clitest.pong"`},
		{name: "on its own webhook action", on: "clitest.opened", step: "clitest.ping: {}", wantCode: 0, wantOutput: ": 1 rule, 0 warnings, all valid"},
		{name: "typo in its webhook action", on: "clitest.opend", step: "clitest.ping: {}", wantCode: 1, wantOutput: `did you mean "clitest.opened"?`},
		{name: "its step on another platform's event", on: "livechat.chat_deactivated", step: "clitest.ping: {}", wantCode: 1,
			wantOutput: "clitest.ping is a clitest action, but the rule is on livechat.chat_deactivated"},
		{name: "another platform's step on its event", on: "clitest.closed", step: "livechat.unpin: {}", wantCode: 1,
			wantOutput: "livechat.unpin is a livechat action, but the rule is on clitest.closed"},
		{name: "unknown platform names it", on: "zendesk.ticket", step: "clitest.ping: {}", wantCode: 1,
			wantOutput: `(want livechat, helpcrunch, rocketchat or clitest)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			yaml := "rules:\n  - name: r\n    on: [" + tt.on + "]\n" + tt.extra + "    then:\n      - " + tt.step + "\n"
			require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
			stdout, stderr, code := runCLI(t, "rules", "check", path)
			assert.Equal(t, tt.wantCode, code, stderr)
			assert.Contains(t, stdout+stderr, tt.wantOutput)
		})
	}
}
