package cli

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus/bustest"
)

func TestSecondServeOnTheDataDirFailsAtOnceNamingTheHolder(t *testing.T) {
	_, natsURL, path, _ := runServeConfig(t, "", nil)
	dataDir := filepath.Join(filepath.Dir(path), "data")
	second := writeFile(t, "second.yaml", fmt.Sprintf("http: {addr: \"127.0.0.1:%d\"}\nnats: {listen: \"127.0.0.1:%d\", data_dir: %q}\n",
		bustest.FreePort(t), bustest.FreePort(t), dataDir))

	begin := time.Now()
	_, stderr, code := runCLI(t, "serve", "--config", second)
	assert.Equal(t, 1, code, stderr)
	assert.Less(t, time.Since(begin), 10*time.Second, "fails at once instead of waiting for the holder")
	assert.Contains(t, stderr, dataDir)
	assert.Contains(t, stderr, "process "+strconv.Itoa(os.Getpid()), "names the holder")
	u, err := url.Parse(natsURL)
	require.NoError(t, err)
	assert.Contains(t, stderr, "set nats.listen to "+u.Host, "says how to reach it")
}
