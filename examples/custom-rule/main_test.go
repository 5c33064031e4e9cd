package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/cli"
	"github.com/chatwarden/chatwarden/samples"
)

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String() + errb.String(), cli.ExitCode(err)
}

// TestVIPFirstThroughTheBinary drives this binary's own CLI: the handler
// registered in init is known to `rules check` and acts in `rules test`.
func TestVIPFirstThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(`
rules:
  - name: vip-first
    on: [livechat.incoming_chat]
    handler: vip-first
`), 0o600))
	out, code := runCLI(t, "rules", "check", rulesFile)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "go:vip-first")

	tests := []struct {
		name      string
		email     string
		wantCalls []string
		wantOut   string
	}{
		{"VIP customer is tagged, transferred and noted", "ceo@bigcustomer.com", []string{"tag_thread", "transfer_chat", "send_event"}, "acted"},
		{"other customers are left alone", "someone@gmail.com", nil, "(no rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := samples.LiveChat("incoming_chat", "s", "C1", "T1")
			body = bytes.ReplaceAll(body, []byte("t.anderson@example.com"), []byte(tt.email))
			ev := filepath.Join(t.TempDir(), "ev.json")
			require.NoError(t, os.WriteFile(ev, body, 0o600))
			var chat map[string]any
			require.NoError(t, json.Unmarshal(body, &chat))
			out, code := runCLI(t, "rules", "test", rulesFile, ev)
			require.Equal(t, 0, code, out)
			for _, call := range tt.wantCalls {
				assert.Contains(t, out, "would call "+call)
			}
			if tt.wantCalls == nil {
				assert.NotContains(t, out, "would call")
			}
		})
	}
}

func TestIsVIP(t *testing.T) {
	v := VIPFirst{Domains: []string{"bigcustomer.com"}}
	for email, want := range map[string]bool{
		"a@bigcustomer.com": true, "A@BigCustomer.COM": true, "a@other.com": false, "no-at-sign": false, "": false,
	} {
		assert.Equal(t, want, v.isVIP(email), email)
	}
}
