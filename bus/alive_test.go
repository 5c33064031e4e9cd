package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
)

// oversizedSubject is longer than the server's 4,096-byte control line: the
// server drops a client that publishes on it, and nats.go does not reconnect.
var oversizedSubject = "chatwarden.test." + strings.Repeat("x", 5000)

func TestConnectionClosedByTheServerIsReported(t *testing.T) {
	external := bustest.Start(t)
	tests := []struct {
		name string
		cfg  func(t *testing.T) config.NATS
		opts []bus.Option
	}{
		{"embedded, in-process", func(t *testing.T) config.NATS { return config.NATS{DataDir: t.TempDir(), Listen: "off"} }, nil},
		{"embedded over TCP", func(t *testing.T) config.NATS { return config.NATS{DataDir: t.TempDir(), Listen: "127.0.0.1:0"} },
			[]bus.Option{bus.WithTCPToEmbedded()}},
		{"external server", func(t *testing.T) config.NATS { return config.NATS{URL: external.URL()} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t, tt.cfg(t), tt.opts...)
			ctx := context.Background()
			require.NoError(t, b.Alive(ctx))
			require.NoError(t, b.Conn.Publish(oversizedSubject, []byte("x")))
			select {
			case <-b.Lost():
			case <-time.After(10 * time.Second): // generous for CI with -race: the server answers within milliseconds
				t.Fatalf("the connection was not reported lost; status %s, last error %v", b.Conn.Status(), b.Conn.LastError())
			}
			err := b.Alive(ctx)
			require.ErrorIs(t, err, bus.ErrConnectionLost)
			assert.Contains(t, err.Error(), "maximum control line exceeded", "names the cause")
			assert.Equal(t, nats.CLOSED, b.Conn.Status(), "nats.go does not reconnect after this")
			_, err = b.Publish(ctx, testEvent("C1"))
			assert.ErrorIs(t, err, bus.ErrNotConnected)
			assert.Error(t, b.Ready(ctx))
		})
	}
}

func TestCloseIsNotALostConnection(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir(), Listen: "off"})
	require.NoError(t, b.Close(context.Background()))
	assert.NoError(t, b.Alive(context.Background()))
	select {
	case <-b.Lost():
		t.Fatal("Close reported as a lost connection")
	default:
	}
}

func TestServerKickReconnects(t *testing.T) {
	srv := bustest.Start(t)
	b := open(t, config.NATS{URL: srv.URL()})
	ctx := context.Background()
	srv.Restart() // the server drops every client; nats.go reconnects by itself
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := b.Publish(ctx, testEvent("C1"))
		assert.NoError(c, err)
	}, 20*time.Second, 50*time.Millisecond)
	assert.NoError(t, b.Alive(ctx), "a reconnected connection is alive")
}
