package bus_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
)

func openForOperator(t *testing.T, cfg config.NATS) (*bus.Bus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.OpenForOperator(ctx, cfg, bus.WithLogger(zaptest.NewLogger(t)))
	if err == nil {
		t.Cleanup(func() { _ = b.Close(context.Background()) })
	}
	return b, err
}

func TestOpenForOperator(t *testing.T) {
	// A data directory written by an earlier run, no server running on it.
	stopped := t.TempDir()
	first := open(t, config.NATS{DataDir: stopped, Listen: "off"})
	require.NoError(t, first.Close(context.Background()))

	// A running service with its listener.
	// The operator uses the service's nats.data_dir: the service keeps the
	// credentials its embedded server requires there.
	port, serviceDir := bustest.FreePort(t), t.TempDir()
	open(t, config.NATS{DataDir: serviceDir, Listen: fmt.Sprintf("127.0.0.1:%d", port)})
	serviceCreds, err := bus.ReadCredentials(serviceDir)
	require.NoError(t, err)
	external := bustest.Start(t)
	open(t, config.NATS{URL: external.URL()}) // provisions its streams

	tests := []struct {
		name         string
		cfg          config.NATS
		wantEmbedded bool
	}{
		{"running service on nats.listen", config.NATS{Listen: fmt.Sprintf("127.0.0.1:%d", port), DataDir: serviceDir}, false},
		{"wildcard nats.listen is reached on loopback", config.NATS{Listen: fmt.Sprintf("0.0.0.0:%d", port), DataDir: serviceDir}, false},
		{"running service with credentials given in the configuration", config.NATS{Listen: fmt.Sprintf("127.0.0.1:%d", port),
			DataDir: filepath.Join(t.TempDir(), "unused"), User: "chatwarden", Password: serviceCreds.Password}, false},
		{"nothing listening: opens the data directory", config.NATS{Listen: fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t)), DataDir: stopped}, true},
		{"nats.url", config.NATS{URL: external.URL(), DataDir: filepath.Join(t.TempDir(), "unused")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := openForOperator(t, tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, tt.wantEmbedded, b.Embedded())
			assert.Empty(t, b.ClientURL(), "an operator never opens a listener")
			_, err = b.JS.Stream(context.Background(), bus.DeadLetterStream)
			assert.NoError(t, err, "sees the service's streams")
		})
	}

	// The data directory opened by an operator is closed again, and usable.
	again := open(t, config.NATS{DataDir: stopped, Listen: "off"})
	_, err = again.JS.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
}

func TestOpenForOperatorFailures(t *testing.T) {
	notNATS, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { notNATS.Close() })
	go func() {
		for {
			c, err := notNATS.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	empty := t.TempDir()
	require.NoError(t, os.MkdirAll(empty, 0o750))
	running := fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
	open(t, config.NATS{DataDir: t.TempDir(), Listen: running})

	tests := []struct {
		name      string
		cfg       config.NATS
		wantIs    error
		wantInMsg string
	}{
		{"no server and no data", config.NATS{Listen: fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t)), DataDir: empty}, bus.ErrNoBroker, "chatwarden serve"},
		{"listener off and no data", config.NATS{Listen: "off", DataDir: filepath.Join(empty, "missing")}, bus.ErrNoBroker, "nats.listen is off"},
		{"something else listens", config.NATS{Listen: notNATS.Addr().String(), DataDir: empty}, nil, "nats.listen"},
		{"running service, operator's data_dir holds no credentials", config.NATS{Listen: running, DataDir: empty}, nats.ErrAuthorization, "service's configuration"},
		{"running service, wrong password", config.NATS{Listen: running, DataDir: empty, User: "chatwarden", Password: "guess"}, nats.ErrAuthorization, "refused nats.user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openForOperator(t, tt.cfg)
			require.Error(t, err)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Contains(t, err.Error(), tt.wantInMsg)
		})
	}
}
