package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/metrics"
)

type aliveFunc func(context.Context) error

func (f aliveFunc) Alive(ctx context.Context) error { return f(ctx) }

func TestHealthzFollowsLiveness(t *testing.T) {
	tests := []struct {
		name     string
		liveness Liveness
		wantCode int
		wantBody string
	}{
		{"no liveness check", nil, http.StatusOK, "ok"},
		{"alive", aliveFunc(func(context.Context) error { return nil }), http.StatusOK, "ok"},
		{"broker connection closed for good", aliveFunc(func(context.Context) error {
			return errors.New("bus: NATS connection closed for good: nats: maximum control line exceeded")
		}), http.StatusServiceUnavailable, "maximum control line exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New(Deps{
				Metrics:  metrics.New(),
				Ready:    readyFunc(func(context.Context) error { return nil }),
				Liveness: tt.liveness,
			}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/healthz")
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.wantCode, resp.StatusCode)
			assert.Contains(t, string(body), tt.wantBody)
		})
	}
}

func TestReadyzNamesTheReason(t *testing.T) {
	tests := []struct {
		name       string
		ready      error
		wantCode   int
		wantReason string
		wantError  string
	}{
		{"ready", nil, http.StatusOK, "", ""},
		{"storage full", fmt.Errorf("%w: write 1.blk: no space left on device", bus.ErrStorageFull), http.StatusServiceUnavailable,
			bus.ReasonStorageFull, "no space left on device"},
		{"not connected", fmt.Errorf("%w: NATS connection is RECONNECTING", bus.ErrNotConnected), http.StatusServiceUnavailable,
			bus.ReasonBrokerUnavailable, "RECONNECTING"},
		{"stream missing", errors.New("stream CHATWARDEN_EVENTS: stream not found"), http.StatusServiceUnavailable, "", "stream not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New(Deps{Metrics: metrics.New(), Ready: readyFunc(func(context.Context) error { return tt.ready })}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/readyz")
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.wantCode, resp.StatusCode)
			if tt.wantCode == http.StatusOK {
				return
			}
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			var body map[string]string
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tt.wantReason, body["reason"])
			assert.Contains(t, body["error"], tt.wantError)
		})
	}
}
