package service_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/service"
)

// TestServiceDeadlines: the server closes a connection whose headers do
// not arrive within http.header_timeout, and answers 408 (closing the
// connection) to a webhook whose body does not arrive within
// http.body_timeout.
func TestServiceDeadlines(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1", "")
	cfg.HTTP.HeaderTimeout = 300 * time.Millisecond
	cfg.HTTP.BodyTimeout = 300 * time.Millisecond
	svc := start(t, cfg, service.Roles{Receive: true})
	for _, tc := range []struct {
		name       string
		sent       string
		wantStatus int // 0: closed without an answer
	}{
		{name: "headers stall", sent: "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\n"},
		{name: "body stalls", sent: "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
			wantStatus: http.StatusRequestTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", svc.Addr())
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = io.WriteString(conn, tc.sent)
			require.NoError(t, err)
			// Far above the 300ms configured, far below the 5s of the
			// defaults: the configured deadline closed it.
			require.NoError(t, conn.SetReadDeadline(start.Add(4*time.Second)))
			got, err := io.ReadAll(conn)
			require.NoError(t, err, "closed by the server before the test's deadline")
			assert.Less(t, time.Since(start), 4*time.Second)
			if tc.wantStatus == 0 {
				assert.Empty(t, got)
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
			require.NoError(t, err)
			assert.Equal(t, tc.wantStatus, resp.StatusCode)
		})
	}
}

// dialFrom connects to svc from the source address (any of 127.0.0.0/8 is
// local on Linux).
func dialFrom(t *testing.T, svc *service.Service, source string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	c, err := d.Dial("tcp", svc.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c
}

// postOn posts a LiveChat webhook on conn and returns the answer's status.
func postOn(t *testing.T, conn net.Conn, body []byte) int {
	t.Helper()
	_, err := fmt.Fprintf(conn, "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestConnsPerClientAddress: a client address with http.max_conns_per_ip
// connections open gets 429 and a closed connection for one more, counted
// in chatwarden_connections_rejected_total; other addresses, and trusted
// proxies, are not affected.
func TestConnsPerClientAddress(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1", "")
	cfg.HTTP.MaxConnsPerIP = 2
	cfg.HTTP.TrustedProxies = []string{"127.0.0.4"}
	svc := start(t, cfg, service.Roles{Receive: true})

	held := []net.Conn{dialFrom(t, svc, "127.0.0.1"), dialFrom(t, svc, "127.0.0.1")}
	for i, c := range held {
		assert.Equal(t, http.StatusOK, postOn(t, c, deactivated(fmt.Sprint("A", i))), "connection %d", i)
	}
	assert.Equal(t, http.StatusTooManyRequests, postOn(t, dialFrom(t, svc, "127.0.0.1"), deactivated("A3")))
	assert.Equal(t, 1.0, testutil.ToFloat64(svc.Metrics().ConnectionsRejected.WithLabelValues("per_ip")))

	for i, source := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.4", "127.0.0.4", "127.0.0.4"} {
		assert.Equal(t, http.StatusOK, postOn(t, dialFrom(t, svc, source), deactivated(fmt.Sprint("B", i))), source)
	}
	for i, c := range held {
		assert.Equal(t, http.StatusOK, postOn(t, c, deactivated(fmt.Sprint("C", i))), "kept-alive connection %d", i)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(svc.Metrics().ConnectionsRejected.WithLabelValues("per_ip")))
}

// TestConnsTotal: with http.max_conns connections open from several
// addresses, one more from any address gets 503 and a closed connection,
// counted under reason total.
func TestConnsTotal(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1", "")
	cfg.HTTP.MaxConns = 3
	svc := start(t, cfg, service.Roles{Receive: true})
	for i, source := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		assert.Equal(t, http.StatusOK, postOn(t, dialFrom(t, svc, source), deactivated(fmt.Sprint("A", i))), source)
	}
	assert.Equal(t, http.StatusServiceUnavailable, postOn(t, dialFrom(t, svc, "127.0.0.4"), deactivated("B")))
	assert.Equal(t, 1.0, testutil.ToFloat64(svc.Metrics().ConnectionsRejected.WithLabelValues("total")))
	assert.Zero(t, testutil.ToFloat64(svc.Metrics().ConnectionsRejected.WithLabelValues("per_ip")))
}
