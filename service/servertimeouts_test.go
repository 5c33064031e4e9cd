package service

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
)

// TestServerTimeoutsFromConfiguration: each listener's server takes its
// timeouts from its section (the header timeout of both from
// http.header_timeout), and the defaults are what they were when they were
// written in Start: 30s to read, 30s (admin 2m) to write, 2m idle.
func TestServerTimeoutsFromConfiguration(t *testing.T) {
	type want struct{ header, read, write, idle time.Duration }
	got := func(srv *http.Server) want {
		return want{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout}
	}
	for _, tc := range []struct {
		name                string
		edit                func(*config.Config)
		wantPublic, wantAdm want
	}{
		{"defaults", func(*config.Config) {},
			want{5 * time.Second, 30 * time.Second, 30 * time.Second, 2 * time.Minute},
			want{5 * time.Second, 30 * time.Second, 2 * time.Minute, 2 * time.Minute}},
		{"configured", func(c *config.Config) {
			c.HTTP.HeaderTimeout, c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout = 1*time.Second, 2*time.Second, 3*time.Second, 4*time.Second
			c.Admin.ReadTimeout, c.Admin.WriteTimeout, c.Admin.IdleTimeout = 5*time.Second, 6*time.Second, 7*time.Second
		},
			want{1 * time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second},
			want{1 * time.Second, 5 * time.Second, 6 * time.Second, 7 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.HTTP.Addr, cfg.Admin.Addr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.NATS.DataDir, cfg.NATS.Listen = t.TempDir(), config.ListenOff
			tc.edit(cfg)
			require.NoError(t, cfg.Validate())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s, err := Start(ctx, cfg, Roles{Receive: true})
			require.NoError(t, err)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = s.Stop(ctx)
			})
			assert.Equal(t, tc.wantPublic, got(s.http), "public listener (http.*)")
			require.NotNil(t, s.admin)
			assert.Equal(t, tc.wantAdm, got(s.admin), "admin listener (admin.*)")
		})
	}
}
