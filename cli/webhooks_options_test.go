package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebhooksRegisterOptions(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantTarget string
		wantErr    string
	}{
		{"bare host", []string{"--url", "https://cw.example.com", "--action", "incoming_chat", "--action", "chat_deactivated", "--prune"}, 0,
			"https://cw.example.com/webhooks/livechat", ""},
		{"loopback over http", []string{"--url", "http://127.0.0.1:8080"}, 0, "http://127.0.0.1:8080/webhooks/livechat", ""},
		{"no url", nil, 2, "", "--url is required"},
		{"plain http elsewhere", []string{"--url", "http://cw.example.com"}, 2, "", "--url must use https"},
		{"unknown action", []string{"--url", "https://cw.example.com", "--action", "chat_closed"}, 2, "", `--action "chat_closed" is not a LiveChat webhook action`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(newCmdWebhooksRegister, tt.args...)
			assert.Equal(t, tt.wantCode, ExitCode(err), "err %v", err)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, got, "bad usage runs nothing")
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tt.wantTarget, got.target)
		})
	}
}
