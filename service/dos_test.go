package service_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

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
