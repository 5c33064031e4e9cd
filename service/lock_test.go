package service_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/service"
)

func TestSecondServiceOnADataDirFailsNamingTheHolder(t *testing.T) {
	_, apiURL := startFake(t)
	cfg := testConfig(t, apiURL, "")
	start(t, cfg, both)

	second := *cfg
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	begin := time.Now()
	svc, err := service.Start(ctx, &second, both, service.WithLogger(zaptest.NewLogger(t)))
	if err == nil {
		_ = svc.Stop(context.Background())
	}
	require.ErrorIs(t, err, bus.ErrDataDirLocked)
	assert.Less(t, time.Since(begin), 5*time.Second, "fails at once instead of waiting for the holder")
	assert.Contains(t, err.Error(), cfg.NATS.DataDir)
	assert.Contains(t, err.Error(), "process "+strconv.Itoa(os.Getpid()))
}
