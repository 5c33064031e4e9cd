package bus

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/config"
)

// TestServerThatGivesUpStartingFailsAtOnce: when the embedded server gives
// up starting (here JetStream, on a store path that is a file; checkDataDir
// is skipped to reach it), startEmbedded says so at once instead of waiting
// 30s for a server that will never be ready.
func TestServerThatGivesUpStartingFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "jetstream"), []byte("x"), 0o600))
	start := time.Now()
	srv, err := startEmbedded(config.NATS{DataDir: dir, Listen: "off"}, Credentials{User: "u", Password: "p"}, zaptest.NewLogger(t))
	if err == nil {
		srv.Shutdown()
	}
	require.ErrorIs(t, err, ErrDataDirUnusable)
	assert.Less(t, time.Since(start), 10*time.Second, "not the 30s wait for readiness")
	assert.Contains(t, err.Error(), "nats.data_dir "+dir+": the embedded NATS server cannot start: Can't start JetStream")
}
