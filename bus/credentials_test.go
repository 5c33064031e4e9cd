package bus_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
)

// connect dials the embedded server's listener as any local process could.
func connect(t *testing.T, b *bus.Bus, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(b.ClientURL(), append([]nats.Option{nats.NoReconnect()}, opts...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func TestEmbeddedServerRequiresGeneratedCredentials(t *testing.T) {
	dir := t.TempDir()
	b := open(t, config.NATS{DataDir: dir, Listen: "127.0.0.1:0"})

	_, err := connect(t, b)
	require.ErrorIs(t, err, nats.ErrAuthorization, "a client without credentials is refused")
	_, err = connect(t, b, nats.UserInfo("chatwarden", "guess"))
	require.ErrorIs(t, err, nats.ErrAuthorization, "a wrong password is refused")

	info, err := os.Stat(filepath.Join(dir, bus.CredentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	creds, err := bus.ReadCredentials(dir)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(creds.Password), 43, "32 random bytes")
	nc, err := connect(t, b, creds.Option())
	require.NoError(t, err, "the file's credentials are accepted")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err, "and reach JetStream")

	// Later starts re-use the file, and narrow a mode widened by hand.
	require.NoError(t, b.Close(context.Background()))
	require.NoError(t, os.Chmod(filepath.Join(dir, bus.CredentialsFile), 0o644))
	core, logs := observer.New(zap.WarnLevel)
	again := open(t, config.NATS{DataDir: dir, Listen: "127.0.0.1:0"}, bus.WithLogger(zap.New(core)))
	assert.Equal(t, 1, logs.FilterMessageSnippet("readable by other users").Len(), "the widened mode is logged")
	_, err = connect(t, again, creds.Option())
	require.NoError(t, err, "the credentials are kept across restarts")
	info, err = os.Stat(filepath.Join(dir, bus.CredentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "a group/world readable file is narrowed to 0600")
}

func TestEmbeddedServerUsesConfiguredCredentials(t *testing.T) {
	tests := []struct {
		name  string
		cfg   config.NATS
		right nats.Option
	}{
		{"user and password", config.NATS{User: "ops", Password: "long-password"}, nats.UserInfo("ops", "long-password")},
		{"token", config.NATS{Token: "long-token"}, nats.Token("long-token")},
		{"password longer than bcrypt takes", config.NATS{User: "ops", Password: strings.Repeat("p", 100)}, nats.UserInfo("ops", strings.Repeat("p", 100))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
			b := open(t, cfg)
			_, err := connect(t, b)
			require.ErrorIs(t, err, nats.ErrAuthorization)
			_, err = connect(t, b, tt.right)
			require.NoError(t, err)
			_, err = os.Stat(filepath.Join(cfg.DataDir, bus.CredentialsFile))
			assert.ErrorIs(t, err, os.ErrNotExist, "no credentials generated when configured")
			_, err = b.Publish(context.Background(), testEvent("C1"))
			require.NoError(t, err, "the in-process connection authenticates too")
		})
	}
}

func TestEmbeddedTCPConnectionAuthenticates(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, bus.WithTCPToEmbedded())
	_, err := b.Publish(context.Background(), testEvent("C1"))
	require.NoError(t, err)
}

func TestNonLoopbackListenNeedsConfiguredCredentials(t *testing.T) {
	port := bustest.FreePort(t)
	tests := []struct {
		name    string
		cfg     config.NATS
		wantErr string
	}{
		{"every interface, no credentials", config.NATS{Listen: fmt.Sprintf("0.0.0.0:%d", port)},
			fmt.Sprintf("nats.listen 0.0.0.0:%d is not a loopback address: set nats.user and nats.password (or nats.token)", port)},
		{"empty host, no credentials", config.NATS{Listen: fmt.Sprintf(":%d", port)}, "is not a loopback address"},
		{"every interface with user and password", config.NATS{Listen: fmt.Sprintf("0.0.0.0:%d", port), User: "ops", Password: "pw"}, ""},
		{"loopback without credentials", config.NATS{Listen: fmt.Sprintf("127.0.0.1:%d", port)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.DataDir = t.TempDir()
			b, err := bus.Open(context.Background(), cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, b.Close(context.Background()))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			_, serr := os.Stat(filepath.Join(cfg.DataDir, bus.CredentialsFile))
			assert.ErrorIs(t, serr, os.ErrNotExist, "refused before anything is written")
		})
	}
}
