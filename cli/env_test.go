package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/samples"
)

// `serve` with no configuration file at all: every setting it needs comes
// from CHATWARDEN_* variables.
func TestServeFromEnvironmentOnly(t *testing.T) {
	httpPort, natsPort, adminPort := bustest.FreePort(t), bustest.FreePort(t), bustest.FreePort(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{
		"CHATWARDEN_HTTP_ADDR":                fmt.Sprintf("127.0.0.1:%d", httpPort),
		"CHATWARDEN_ADMIN_ADDR":               fmt.Sprintf("127.0.0.1:%d", adminPort),
		"CHATWARDEN_ADMIN_METRICS_PUBLIC":     "true",
		"CHATWARDEN_NATS_LISTEN":              fmt.Sprintf("127.0.0.1:%d", natsPort),
		"CHATWARDEN_NATS_DATA_DIR":            dataDir,
		"CHATWARDEN_NATS_PARTITIONS":          "4",
		"CHATWARDEN_LIVECHAT_WEBHOOK_SECRETS": "whsec-new, whsec-old",
		"CHATWARDEN_WORKERS_DRY_RUN":          "true",
	}
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "serve must shut down cleanly; log:\n%s", stderr)
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s of cancellation")
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/readyz")
		if !assert.NoError(c, err) {
			return
		}
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 30*time.Second, 20*time.Millisecond, "serve did not become ready; log:\n%s", stderr)

	post := func(secret string) int {
		resp, err := http.Post(base+"/webhooks/livechat", "application/json",
			bytes.NewReader(samples.LiveChat("chat_deactivated", secret, "C1", "T1")))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, post("whsec-new"), "the first secret of the list")
	assert.Equal(t, http.StatusOK, post("whsec-old"), "the second secret, after the comma and space")
	assert.Equal(t, http.StatusUnauthorized, post("wrong"))

	// nats.partitions and nats.data_dir came from the environment.
	creds, err := bus.ReadCredentials(dataDir)
	require.NoError(t, err)
	nc, err := nats.Connect((&url.URL{Scheme: "nats", User: url.UserPassword(creds.User, creds.Password),
		Host: fmt.Sprintf("127.0.0.1:%d", natsPort)}).String())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	assert.Equal(t, "4", st.CachedInfo().Config.Metadata["chatwarden.partitions"])

	// admin.metrics_public (a boolean) came from the environment: no token.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	assert.Contains(t, stderr.String(), "settings from the environment", "the log says which variables set keys")
	assert.Contains(t, stderr.String(), "CHATWARDEN_LIVECHAT_WEBHOOK_SECRETS")
	assert.NotContains(t, stderr.String(), "whsec-new", "names, never values")
}

func TestServeRefusesABadVariable(t *testing.T) {
	var out, errb bytes.Buffer
	// Should the variable be ignored, serve would start on these (and
	// stop with ctx, exit 0) rather than take the defaults' ports.
	env := map[string]string{"CHATWARDEN_NATS_PARTITIONS": "four", "CHATWARDEN_HTTP_ADDR": "127.0.0.1:0",
		"CHATWARDEN_ADMIN_ADDR": "off", "CHATWARDEN_NATS_LISTEN": "off", "CHATWARDEN_NATS_DATA_DIR": t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &errb)
	assert.Equal(t, 1, ExitCode(err))
	assert.Contains(t, errb.String(), `nats.partitions (from CHATWARDEN_NATS_PARTITIONS): must be a whole number, got "four"`)
}
