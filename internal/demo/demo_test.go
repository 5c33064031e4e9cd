package demo

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/config"
)

// lockedBuffer is a bytes.Buffer safe for the demo's goroutine and the
// test's.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestKeptConfigurationIsTheService checks that the configuration file a
// kept demo writes loads and validates, and points at what runs: the
// receiver answers on its http.addr, the fake on its api_url, and the
// fake holds the seeded chats.
func TestKeptConfigurationIsTheService(t *testing.T) {
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Out: out, Logger: zaptest.NewLogger(t), Keep: true, Chats: 12}) }()
	defer func() {
		cancel()
		<-done
	}()
	var path string
	// Generous for 2 cores under -race: the scripted part alone may wait 20s.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		m := regexp.MustCompile(`configuration\s+(\S+)`).FindStringSubmatch(out.String())
		if assert.Len(c, m, 2) {
			path = m[1]
		}
	}, 60*time.Second, 50*time.Millisecond, "output:\n%s", out)
	assert.Equal(t, ConfigFile, filepath.Base(path))

	cfg, err := config.Load(path, func(string) string { return "" })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, []string{Secret}, cfg.LiveChat.WebhookSecrets)
	assert.Equal(t, ownerClientID, cfg.LiveChat.OwnerClientID)
	assert.NotEmpty(t, cfg.Admin.Token)
	assert.Contains(t, out.String(), "also 12 Unassigned chats, DEMO-0001 to DEMO-0012")

	resp, err := http.Get("http://" + cfg.HTTP.Addr + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the receiver listens on http.addr")
	resp, err = http.Post(cfg.LiveChat.APIURL+"/v3.6/agent/action/get_chat", "application/json",
		bytes.NewReader([]byte(`{"chat_id":"DEMO-0012"}`)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the fake answers on api_url (and wants credentials)")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
		done <- nil
	case <-time.After(time.Minute):
		t.Fatal("the demo did not stop within a minute")
	}
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "the directory is removed")
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "/tmp/chatwarden-demo-1/chatwarden.yaml", "/tmp/chatwarden-demo-1/chatwarden.yaml"},
		{"space", "/tmp/my dir/x.yaml", "'/tmp/my dir/x.yaml'"},
		{"json", `{"a":"b"}`, `'{"a":"b"}'`},
		{"single quote", `it's`, `'it'\''s'`},
		{"empty", "", "''"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, shellQuote(tt.in))
		})
	}
}
