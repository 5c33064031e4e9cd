package livechat

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
)

// TestParseWebhookV32Golden parses a v3.2-style webhook, which names its
// tenant license_id (a number), and compares the event's routing fields
// with the golden file.
func TestParseWebhookV32Golden(t *testing.T) {
	body, err := os.ReadFile("testdata/webhook_v3.2_incoming_chat.json")
	require.NoError(t, err)
	golden, err := os.ReadFile("testdata/webhook_v3.2_incoming_chat.golden.json")
	require.NoError(t, err)
	ev, secret, err := ParseWebhook(body, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "test-secret", secret)
	got := map[string]string{"platform": ev.Platform, "action": ev.Action, "tenant": ev.Tenant,
		"chat_id": ev.ChatID, "thread_id": ev.ThreadID, "webhook_id": ev.WebhookID}
	var want map[string]string
	require.NoError(t, json.Unmarshal(golden, &want))
	assert.Equal(t, want, got)
	require.NoError(t, ev.CheckBounds(nil), "the receiver's bounds hold")
}

// TestParseWebhookTenant checks which field becomes the tenant: organization_id
// when given, else license_id (as text), and license_id's bounds.
func TestParseWebhookTenant(t *testing.T) {
	long := strings.Repeat("7", event.MaxTenantLen+1)
	tests := []struct {
		name    string
		members string // top-level members besides action and payload
		want    string
		wantErr string
	}{
		{"organization_id", `"organization_id":"org-1"`, "org-1", ""},
		{"license_id number", `"license_id":104130623`, "104130623", ""},
		{"license_id string", `"license_id":"104130623"`, "104130623", ""},
		{"organization_id wins over license_id", `"license_id":1,"organization_id":"org-1"`, "org-1", ""},
		{"organization_id wins, license_id last", `"organization_id":"org-1","license_id":1`, "org-1", ""},
		{"empty organization_id falls back", `"organization_id":"","license_id":42`, "42", ""},
		{"license_id zero", `"license_id":0`, "0", ""},
		{"license_id negative ignored", `"license_id":-5`, "", ""},
		{"license_id fraction ignored", `"license_id":1.5`, "", ""},
		{"license_id exponent ignored", `"license_id":1e9`, "", ""},
		{"license_id object ignored", `"license_id":{"id":1}`, "", ""},
		{"neither", `"webhook_id":"w"`, "", ""},
		{"license_id at the bound", `"license_id":` + long[1:], long[1:], ""},
		{"license_id over the bound", `"license_id":` + long, "",
			"license_id is 129 bytes; at most 128 allowed"},
		{"license_id with a control character", `"license_id":"1\u0007"`, "",
			"license_id contains a control character (U+0007 at byte 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"action":"chat_deactivated",` + tt.members + `,"payload":{"chat_id":"C1"}}`
			ev, _, err := ParseWebhook([]byte(body), time.Now())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, event.ErrOutOfBounds)
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, ev.Tenant)
		})
	}
}
