package service_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/service"
)

// TestLoadRulesJudgesRuleFiles: serve starts with a rule file whose `on`
// names an action this version does not know (a warning, so that
// yesterday's file keeps working), and refuses a step of another platform.
func TestLoadRulesJudgesRuleFiles(t *testing.T) {
	tests := []struct {
		name     string
		rules    string
		wantErr  string // "": loads
		warnings int
	}{
		{name: "unknown action is a warning", warnings: 1,
			rules: "rules:\n  - {name: r, on: [livechat.chat_deactivatd], then: [{livechat.unpin: {}}]}\n"},
		{name: "step of another platform is refused", wantErr: "livechat.unpin is a livechat action, but the rule is on helpcrunch.chat.closed",
			rules: "rules:\n  - {name: r, on: [helpcrunch.chat.closed], then: [{livechat.unpin: {}}]}\n"},
		{name: "cross_platform says why",
			rules: "rules:\n  - {name: r, on: [helpcrunch.chat.closed], cross_platform: true, then: [{livechat.set_routing_status: {agent_id: a@example.com, status: accepting_chats}}]}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.rules), 0o600))
			set, builtIn, err := service.LoadRules(&config.Config{RulesFile: path}, nil)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "rules_file")
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.False(t, builtIn)
			assert.Equal(t, 1, set.Len())
			assert.Len(t, set.Warnings(), tt.warnings)
		})
	}
}
