package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
	"github.com/chatwarden/chatwarden/samples"
)

// `serve` with a configuration file wires HelpCrunch and Rocket.Chat from
// webhook to rule to API call.
func TestServeActsOnHelpCrunchAndRocketChat(t *testing.T) {
	hc := helpcrunchtest.New(helpcrunchtest.WithAPIKey("hc-key"))
	hc.AddChat(helpcrunch.Chat{ID: 8001, Status: helpcrunch.StatusOpened})
	hcURL, stopHC := hc.Start()
	defer stopHC()
	rc := rocketchattest.New(rocketchattest.WithAuth("bot", "rc-auth"))
	rc.AddRoom(rocketchat.Room{ID: "R1", Open: true, Visitor: &rocketchat.Visitor{ID: "V1"}})
	rcURL, stopRC := rc.Start()
	defer stopRC()

	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(`
rules:
  - name: close-closed-helpcrunch-chats
    on: [helpcrunch.chat.closed]
    then:
      - helpcrunch.set_status: {status: closed}
  - name: tag-forwarded-rooms
    on: rocketchat.LivechatSessionForwarded
    then:
      - rocketchat.tag: {tags: [forwarded]}
`), 0o600))
	env := map[string]string{"HC_KEY": "hc-key", "HC_SIGN": "sign-key", "RC_AUTH": "rc-auth", "RC_HOOK": "hook-token"}
	baseURL, _, stderr := runServe(t, fmt.Sprintf(`
rules_file: %s
helpcrunch: {api_url: %s, api_key: "${HC_KEY}", signing_key: "${HC_SIGN}"}
rocketchat: {url: %s, user_id: bot, auth_token: "${RC_AUTH}", webhook_token: "${RC_HOOK}"}
workers: {backoff_base: 20ms, backoff_max: 200ms}
`, rulesFile, hcURL, rcURL), env)

	post := func(path string, body []byte, header, value string) int {
		req, err := http.NewRequest(http.MethodPost, baseURL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			assert.Empty(t, b)
		}
		return resp.StatusCode
	}
	body, sig := samples.HelpCrunchSigned("chat.closed", "sign-key", "8001", "evt-9")
	require.Equal(t, http.StatusOK, post("/webhooks/helpcrunch", body, helpcrunch.SignatureHeader, sig))
	require.Equal(t, http.StatusOK, post("/webhooks/helpcrunch", body, helpcrunch.SignatureHeader, sig))
	require.Equal(t, http.StatusUnauthorized, post("/webhooks/helpcrunch", body, helpcrunch.SignatureHeader, "00"))
	fwd := samples.RocketChat("LivechatSessionForwarded", "R1")
	require.Equal(t, http.StatusOK, post("/webhooks/rocketchat", fwd, rocketchat.TokenHeader, "hook-token"))
	require.Equal(t, http.StatusOK, post("/webhooks/rocketchat", fwd, rocketchat.TokenHeader, "hook-token"))
	require.Equal(t, http.StatusUnauthorized, post("/webhooks/rocketchat", fwd, rocketchat.TokenHeader, "nope"))

	require.Eventually(t, func() bool {
		// The fake records a call before it applies it: wait for the tags.
		r, _ := rc.Room("R1")
		return len(hc.CallsTo(helpcrunchtest.EndpointStatus)) == 1 && len(rc.CallsTo(rocketchat.PathSaveRoomInfo)) == 1 && len(r.Tags) > 0
	}, 20*time.Second, 20*time.Millisecond, "log:\n%s", stderr)
	assert.JSONEq(t, `{"id":8001,"status":"closed"}`, string(hc.CallsTo(helpcrunchtest.EndpointStatus)[0].Body))
	r, _ := rc.Room("R1")
	assert.Equal(t, []string{"forwarded"}, r.Tags)
	require.Never(t, func() bool {
		return len(hc.CallsTo(helpcrunchtest.EndpointStatus)) > 1 || len(rc.CallsTo(rocketchat.PathSaveRoomInfo)) > 1
	}, 500*time.Millisecond, 50*time.Millisecond, "the duplicates collapsed")
	for _, secret := range []string{"hc-key", "sign-key", "rc-auth", "hook-token"} {
		assert.NotContains(t, stderr.String(), secret)
	}
}
