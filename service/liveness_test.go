package service_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
)

func TestBrokerConnectionClosedForGoodFailsHealthz(t *testing.T) {
	_, apiURL := startFake(t)
	svc := start(t, testConfig(t, apiURL, ""), both)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + svc.Addr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)

	// The server drops a client that sends a control line over 4,096 bytes,
	// and nats.go does not reconnect after that.
	require.NoError(t, svc.Bus().Conn.Publish("chatwarden.test."+strings.Repeat("x", 5000), nil))

	select {
	case err := <-svc.Err():
		require.ErrorIs(t, err, bus.ErrConnectionLost, "reported so that the caller can start the service again")
	case <-time.After(10 * time.Second): // generous for CI: the server answers within milliseconds
		t.Fatal("the lost broker connection was not reported on Err")
	}
	code, body := get("/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "an orchestrator restarts the process")
	assert.Contains(t, body, "maximum control line exceeded", "names the cause")
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, http.StatusServiceUnavailable, post(t, svc, deactivated("C1")).StatusCode)
}
