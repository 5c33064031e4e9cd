package service_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/service"
)

// TestListenerTimeoutsTakeEffect: a keep-alive connection left idle is
// closed after http.idle_timeout (admin.idle_timeout on the admin
// listener), and a request whose body stalls on a route that does not read
// it is ended by http.read_timeout. Each is configured at 300ms: the test's
// 4s bound is far above that (generous for CI) and far below the defaults
// (2m idle, 30s read), so only the configured value can close them in time.
func TestListenerTimeoutsTakeEffect(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1", "")
	cfg.HTTP.IdleTimeout = 300 * time.Millisecond
	cfg.HTTP.ReadTimeout = 300 * time.Millisecond
	cfg.Admin.IdleTimeout = 300 * time.Millisecond
	svc := start(t, cfg, service.Roles{Receive: true})

	for _, tc := range []struct {
		name, addr string
		request    string
		answered   bool // an answer comes before the connection is closed
	}{
		{"http.idle_timeout", svc.Addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"admin.idle_timeout", svc.AdminAddr(), "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testAdminToken + "\r\n\r\n", true},
		{"http.read_timeout", svc.Addr(), "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tc.addr)
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			require.NoError(t, conn.SetReadDeadline(start.Add(4*time.Second)))
			_, err = io.WriteString(conn, tc.request)
			require.NoError(t, err)
			r := bufio.NewReader(conn)
			if tc.answered {
				resp, err := http.ReadResponse(r, nil)
				require.NoError(t, err)
				_, err = io.Copy(io.Discard, resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
			// Whatever else comes (the answer to a stalled request), the
			// server then closes the connection.
			_, err = io.Copy(io.Discard, r)
			require.NoError(t, err, "closed by the server before the test's deadline")
			assert.Less(t, time.Since(start), 4*time.Second)
		})
	}
}
