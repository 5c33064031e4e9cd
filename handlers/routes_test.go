package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/metrics"
)

// get sends GET path with the bearer token (none when "") and returns the
// status and body.
func get(t *testing.T, srv *httptest.Server, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// The public listener serves the webhooks and the probes only; everything
// an operator uses is on the admin listener, behind the token.
func TestPublicAndAdminListenersServeSeparateRoutes(t *testing.T) {
	d := Deps{
		Logger: zaptest.NewLogger(t), Metrics: metrics.New(), Publisher: &fakePublisher{}, Receive: true,
		Receivers:  receivers(nil, "", ""),
		Ready:      readyFunc(func(context.Context) error { return nil }),
		AdminToken: adminToken, DeadLetters: &fakeDeadLetters{},
	}
	public := httptest.NewServer(New(d))
	t.Cleanup(public.Close)
	admin := httptest.NewServer(NewAdmin(d))
	t.Cleanup(admin.Close)

	t.Run("public", func(t *testing.T) {
		for path, want := range map[string]int{
			"/healthz":           http.StatusOK,
			"/readyz":            http.StatusOK,
			"/metrics":           http.StatusNotFound,
			"/admin/dlq":         http.StatusNotFound,
			"/ui/":               http.StatusNotFound,
			"/debug/pprof/":      http.StatusNotFound,
			"/debug/pprof/heap":  http.StatusNotFound,
			"/webhooks/livechat": http.StatusMethodNotAllowed, // POST only
		} {
			status, _ := get(t, public, path, adminToken)
			assert.Equal(t, want, status, path)
		}
	})
	t.Run("admin with the token", func(t *testing.T) {
		status, body := get(t, admin, "/metrics", adminToken)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "chatwarden_")
		status, body = get(t, admin, "/debug/pprof/", adminToken)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "goroutine")
		status, body = get(t, admin, "/debug/pprof/heap?debug=1", adminToken)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "heap profile")
		status, _ = get(t, admin, "/debug/pprof/cmdline", adminToken)
		assert.Equal(t, http.StatusOK, status)
		status, _ = get(t, admin, "/admin/dlq", adminToken)
		assert.Equal(t, http.StatusOK, status)
	})
	t.Run("admin without the token", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile", "/admin/dlq"} {
			status, _ := get(t, admin, path, "")
			assert.Equal(t, http.StatusUnauthorized, status, path)
			status, _ = get(t, admin, path, "wrong")
			assert.Equal(t, http.StatusUnauthorized, status, path)
		}
	})
	t.Run("admin does not receive webhooks", func(t *testing.T) {
		resp, err := http.Post(admin.URL+"/webhooks/livechat", "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestAdminMetricsAccess(t *testing.T) {
	tests := []struct {
		name       string
		token      string // admin.token
		public     bool   // admin.metrics_public
		sent       string // bearer token sent
		wantStatus int
		wantBody   string
	}{
		{"public, nothing sent", adminToken, true, "", http.StatusOK, "chatwarden_"},
		{"public, no token configured", "", true, "", http.StatusOK, "chatwarden_"},
		{"private, token sent", adminToken, false, adminToken, http.StatusOK, "chatwarden_"},
		{"private, nothing sent", adminToken, false, "", http.StatusUnauthorized, "bearer token"},
		{"private, no token configured", "", false, "", http.StatusForbidden, "admin.metrics_public"},
		{"private, no token configured, one sent", "", false, "guess", http.StatusForbidden, "set admin.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(NewAdmin(Deps{
				Logger: zaptest.NewLogger(t), Metrics: metrics.New(),
				AdminToken: tt.token, MetricsPublic: tt.public,
			}))
			t.Cleanup(srv.Close)
			status, body := get(t, srv, "/metrics", tt.sent)
			assert.Equal(t, tt.wantStatus, status, body)
			assert.Contains(t, body, tt.wantBody)
			status, _ = get(t, srv, "/debug/pprof/", tt.sent)
			if tt.sent == tt.token && tt.token != "" {
				assert.Equal(t, http.StatusOK, status, "the profiler follows the token, not metrics_public")
			} else {
				assert.NotEqual(t, http.StatusOK, status, "the profiler follows the token, not metrics_public")
			}
		})
	}
}
