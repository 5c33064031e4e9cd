package service_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/samples"
)

// TestPublicListenerRefusesContentLengthWithTransferEncoding: on serve's
// listener, a webhook with both Content-Length and Transfer-Encoding is
// answered 400 and its connection closed (RFC 9112 §6.1), even with a valid
// secret; the same webhook chunked alone is accepted.
func TestPublicListenerRefusesContentLengthWithTransferEncoding(t *testing.T) {
	_, lcURL := startFake(t)
	svc := start(t, testConfig(t, lcURL, ""), both)
	body := samples.LiveChat("chat_deactivated", secret, "CHAT1", "THREAD1")
	head := "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	chunked := func(extra string) string {
		return head + extra + "Transfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(body)), 16) + "\r\n" + string(body) + "\r\n0\r\n\r\n"
	}

	c, err := net.Dial("tcp", svc.Addr())
	require.NoError(t, err)
	defer c.Close()
	// Generous: the answer and the close come long before on any machine.
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	br := bufio.NewReader(c)

	_, err = io.WriteString(c, chunked(""))
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "chunked alone is a genuine webhook")

	_, err = io.WriteString(c, chunked("Content-Length: 5\r\n"))
	require.NoError(t, err)
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(answer), "both Content-Length and Transfer-Encoding")
	assert.True(t, resp.Close, "Connection: close")
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the server closes the connection")
}
