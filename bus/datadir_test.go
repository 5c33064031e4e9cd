package bus_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/internal/testfs"
)

// TestUnusableDataDirFailsAtOnce: a data directory the embedded server
// cannot write to fails Open at once (not after the 30s wait for a server
// that will never be ready), naming the directory and the cause.
func TestUnusableDataDirFailsAtOnce(t *testing.T) {
	tests := []struct {
		name     string
		dataDir  func(t *testing.T) string // returns nats.data_dir
		wantText []string
	}{
		{"read-only filesystem", func(t *testing.T) string {
			dir := testfs.Tmpfs(t, 4<<20)
			testfs.RemountReadOnly(t, dir)
			return dir
		}, []string{"not writable", "read-only file system"}},
		{"read-only filesystem, data kept from before", func(t *testing.T) string {
			dir := testfs.Tmpfs(t, 4<<20)
			b := open(t, config.NATS{DataDir: dir, Listen: "off"})
			require.NoError(t, b.Close(context.Background()))
			testfs.RemountReadOnly(t, dir)
			return dir
		}, []string{"not writable", "read-only file system"}},
		{"read-only JetStream store under a writable directory", func(t *testing.T) string {
			dir := t.TempDir()
			store := filepath.Join(dir, "jetstream")
			require.NoError(t, os.Mkdir(store, 0o750))
			testfs.TmpfsAt(t, store, 4<<20)
			testfs.RemountReadOnly(t, store)
			return dir
		}, []string{"not writable", "read-only file system"}},
		{"under a regular file", func(t *testing.T) string {
			file := filepath.Join(t.TempDir(), "file")
			require.NoError(t, os.WriteFile(file, nil, 0o600))
			return filepath.Join(file, "data")
		}, []string{"cannot create it", "not a directory"}},
		{"JetStream store is a regular file", func(t *testing.T) string {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "jetstream"), []byte("x"), 0o600))
			return dir
		}, []string{"jetstream is not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dataDir(t)
			start := time.Now()
			b, err := bus.Open(context.Background(), config.NATS{DataDir: dir, Listen: "off"}, bus.WithLogger(zaptest.NewLogger(t)))
			if err == nil {
				_ = b.Close(context.Background())
			}
			require.ErrorIs(t, err, bus.ErrDataDirUnusable)
			assert.Less(t, time.Since(start), 5*time.Second, "at once, not after waiting for the server")
			assert.Contains(t, err.Error(), "nats.data_dir "+dir+":", "names the directory")
			t.Log(err)
			for _, s := range tt.wantText {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}
