package handlers

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/samples"
)

// TestOversizedBodyWrittenWholeGets413: a client that writes a whole 2 MiB
// body before reading its answer (as Python's urllib does) reads a 413 and
// Connection: close, never a connection reset: the server reads and
// discards the rest of the body (up to discardLimit) before answering.
// Repeated because a reset depends on timing.
func TestOversizedBodyWrittenWholeGets413(t *testing.T) {
	const size = 2 << 20
	payload := samples.LiveChat("incoming_chat", "s3cret", "C", "T")
	body := append(bytes.Clone(payload), strings.Repeat(" ", size-len(payload))...)
	chunked := fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	tests := []struct {
		name    string
		request []byte
	}{
		{name: "declared length", request: append([]byte(fmt.Sprintf("POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))), body...)},
		{name: "chunked", request: append([]byte("POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"), chunked...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, []string{"s3cret"}, 64<<10)
			for i := range 10 {
				conn, err := net.Dial("tcp", ts.srv.Listener.Addr().String())
				require.NoError(t, err)
				// A small send buffer, as over a real network: the write
				// completes only as fast as the server reads.
				require.NoError(t, conn.(*net.TCPConn).SetWriteBuffer(16<<10))
				// Generous: 2 MiB over loopback under -race on 2 cores.
				require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
				_, err = conn.Write(tt.request)
				require.NoError(t, err, "try %d: writing the whole body", i)
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err, "try %d: reading the answer", i)
				_, err = io.Copy(io.Discard, resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "try %d", i)
				assert.True(t, resp.Close, "try %d: Connection: close", i)
				conn.Close()
			}
			assert.Empty(t, ts.pub.published())
		})
	}
}
