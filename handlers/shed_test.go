package handlers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/samples"
)

// stall opens a connection to addr that posts a LiveChat webhook declaring
// declared bytes and sends only sent of them, then nothing more. The
// connection closes with the test.
func stall(t *testing.T, addr string, declared, sent int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /webhooks/livechat HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, declared, bytes.Repeat([]byte("{"), sent))
	require.NoError(t, err)
	return conn
}

// TestStalledBodiesHoldNoSlotAndOnlyTheirBytes: webhooks that declare 1 MiB
// and send one byte are charged the 4 KiB their buffer holds, not the
// declared length, and hold no slot of http.max_inflight while their body
// is missing: with more of them than the budget holds declared bodies and
// than there are slots, genuine webhooks are still stored. Bytes that have
// arrived are charged: once stalled bodies hold the whole budget, the next
// webhook is shed with 503, Retry-After and a closed connection.
func TestStalledBodiesHoldNoSlotAndOnlyTheirBytes(t *testing.T) {
	body := samples.LiveChat("incoming_chat", "s3cret", "C1", "T1")
	for _, tc := range []struct {
		name        string
		stalled     int
		sent        int   // bytes each stalled body sent
		charged     int64 // what each is charged for them
		budget      int64 // http.max_inflight_bytes
		wantStatus  int
		wantCounted float64 // webhooks shed as overloaded
	}{
		{name: "10 stalled one-byte bodies, budget of 2 declared, 4 slots", stalled: 10, sent: 1, charged: firstChunk,
			budget: 2 << 20, wantStatus: http.StatusOK},
		{name: "a stalled 40 KB body holding the whole budget", stalled: 1, sent: 40_000, charged: 64 << 10,
			budget: 64 << 10, wantStatus: http.StatusServiceUnavailable, wantCounted: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			pub := &fakePublisher{}
			srv := httptest.NewServer(New(Deps{
				Logger: zap.NewNop(), Metrics: m, Publisher: pub, Receive: true,
				Ready:           readyFunc(func(context.Context) error { return nil }),
				LiveChatSecrets: []string{"s3cret"}, MaxBodyBytes: min(1<<20, tc.budget),
				MaxInflightBytes: tc.budget, MaxInflight: 4, PublishTimeout: time.Second,
			}))
			t.Cleanup(srv.Close)
			for range tc.stalled {
				stall(t, srv.Listener.Addr().String(), int(min(1<<20, tc.budget)), tc.sent)
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.Equal(c, float64(int64(tc.stalled)*tc.charged), testutil.ToFloat64(m.WebhookBytesInflight))
			}, 10*time.Second, 5*time.Millisecond, "every stalled body charged for what it sent")

			for i := range 3 {
				resp, err := http.Post(srv.URL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, tc.wantStatus, resp.StatusCode, "webhook %d", i)
				if tc.wantStatus == http.StatusServiceUnavailable {
					assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
					assert.True(t, resp.Close, "connection closed: the rest of the body is not read")
				}
			}
			assert.Equal(t, 3*tc.wantCounted, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonOverloaded)))
		})
	}
}

// TestBodyTimeout: a webhook whose body has not arrived within
// http.body_timeout is answered 408, counted under body_timeout, and its
// connection closed; its bytes go back to the budget.
func TestBodyTimeout(t *testing.T) {
	m := metrics.New()
	srv := httptest.NewServer(New(Deps{
		Logger: zap.NewNop(), Metrics: m, Publisher: &fakePublisher{}, Receive: true,
		Ready:           readyFunc(func(context.Context) error { return nil }),
		LiveChatSecrets: []string{"s3cret"}, BodyTimeout: 300 * time.Millisecond,
	}))
	t.Cleanup(srv.Close)
	conn := stall(t, srv.Listener.Addr().String(), 1000, 10)
	// Bounded by the test's deadline, not by the server: without a body
	// deadline nothing would come.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, resp.Close, "Connection: close")
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the server closed the connection")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonBodyTimeout)))
	assert.Zero(t, testutil.ToFloat64(m.WebhookBytesInflight), "bytes given back")
}
