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
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/samples"
)

// stall opens a connection to addr that posts a LiveChat webhook declaring
// declared bytes and sends only sent of them, then nothing more. The
// connection closes with the test.
func stall(t *testing.T, addr string, declared, sent int) net.Conn {
	t.Helper()
	return stallFrom(t, addr, "127.0.0.1", "", declared, sent)
}

// stallFrom is stall from the source address, with extra header lines
// (each ending in \r\n).
func stallFrom(t *testing.T, addr, source, header string, declared, sent int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /webhooks/livechat HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s",
		addr, header, declared, bytes.Repeat([]byte("{"), sent))
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
				Ready:     readyFunc(func(context.Context) error { return nil }),
				Receivers: receivers([]string{"s3cret"}, "", ""), MaxBodyBytes: min(1<<20, tc.budget),
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
				// From another address: the budget is what is tested, not
				// 127.0.0.1's own share of it.
				resp := postFrom(t, srv.URL+"/webhooks/livechat", "127.0.0.2", "", body)
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
		Ready:     readyFunc(func(context.Context) error { return nil }),
		Receivers: receivers([]string{"s3cret"}, "", ""), BodyTimeout: 300 * time.Millisecond,
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

// postFrom posts body to url from the source address with header (one
// "Name: value" or none) and returns the answer, read whole.
func postFrom(t *testing.T, url, source, header string, body []byte) *http.Response {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	if name, value, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(name, value)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// TestInflightPerClientAddress: a client address with
// http.max_inflight_per_ip webhooks in flight gets 429 with Retry-After (and
// a closed connection) for one more; other addresses are not affected. The
// client address is the TCP peer, whatever X-Forwarded-For or X-Real-IP
// say, unless the peer is a trusted proxy: then the forwarded address is the
// client, for the cap and in the logs.
func TestInflightPerClientAddress(t *testing.T) {
	body := samples.LiveChat("incoming_chat", "s3cret", "C1", "T1")
	wrongSecret := samples.LiveChat("incoming_chat", "wrong", "C1", "T1")
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// The stalled webhook comes from 127.0.0.1 with X-Forwarded-For:
		// 203.0.113.1; then each of these posts a webhook.
		posts []clientPost
		// remote is what the log of a rejected webhook from 127.0.0.1
		// with X-Forwarded-For: 203.0.113.7 names.
		remote string
	}{
		{name: "untrusted peer: forwarded headers are not believed", posts: []clientPost{
			{"127.0.0.1", "X-Forwarded-For: 203.0.113.2", http.StatusTooManyRequests},
			{"127.0.0.1", "X-Real-IP: 203.0.113.3", http.StatusTooManyRequests},
			{"127.0.0.2", "X-Forwarded-For: 127.0.0.1", http.StatusOK},
		}, remote: "127.0.0.1"},
		{name: "trusted proxy: the forwarded client is capped", trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, posts: []clientPost{
			{"127.0.0.1", "X-Forwarded-For: 203.0.113.2", http.StatusOK},
			{"127.0.0.1", "X-Real-IP: 203.0.113.3", http.StatusOK},
			{"127.0.0.1", "X-Forwarded-For: 203.0.113.1", http.StatusTooManyRequests},
			{"127.0.0.1", "X-Forwarded-For: 203.0.113.1, 127.0.0.1", http.StatusTooManyRequests},
			{"127.0.0.1", "X-Real-IP: 203.0.113.1", http.StatusTooManyRequests},
			{"127.0.0.2", "X-Forwarded-For: 203.0.113.2", http.StatusOK},
		}, remote: "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			core, logs := observer.New(zap.InfoLevel)
			srv := httptest.NewServer(New(Deps{
				Logger: zap.New(core), Metrics: m, Publisher: &fakePublisher{}, Receive: true,
				Ready:     readyFunc(func(context.Context) error { return nil }),
				Receivers: receivers([]string{"s3cret"}, "", ""), MaxInflightPerIP: 1, TrustedProxies: tc.trusted,
			}))
			t.Cleanup(srv.Close)
			stallFrom(t, srv.Listener.Addr().String(), "127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n", 1<<20, 1)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.Equal(c, float64(firstChunk), testutil.ToFloat64(m.WebhookBytesInflight))
			}, 10*time.Second, 5*time.Millisecond, "the stalled webhook is in flight")

			var limited float64
			for _, p := range tc.posts {
				resp := postFrom(t, srv.URL+"/webhooks/livechat", p.source, p.header, body)
				assert.Equal(t, p.want, resp.StatusCode, "%s %s", p.source, p.header)
				if p.want == http.StatusTooManyRequests {
					limited++
					assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
					assert.True(t, resp.Close, "connection closed")
				}
			}
			assert.Equal(t, limited, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonClientLimit)))

			resp := postFrom(t, srv.URL+"/webhooks/livechat", "127.0.0.3", "X-Forwarded-For: 203.0.113.7", wrongSecret)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			if tc.remote == "203.0.113.7" { // the proxy is 127.0.0.1, not 127.0.0.3
				resp = postFrom(t, srv.URL+"/webhooks/livechat", "127.0.0.1", "X-Forwarded-For: 203.0.113.7", wrongSecret)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			}
			var remotes []string
			for _, e := range logs.FilterMessage("webhook rejected").All() {
				remotes = append(remotes, e.ContextMap()["remote"].(string))
			}
			want := []string{"127.0.0.3"}
			if tc.remote == "203.0.113.7" {
				want = append(want, "203.0.113.7")
			}
			assert.Equal(t, want, remotes, "the client named in the logs")
		})
	}
}

type clientPost struct {
	source, header string
	want           int
}

// TestInflightBytesPerClientAddress: the webhooks of one client address
// hold at most its share of http.max_inflight_bytes; beyond, that address
// gets 429 with Retry-After and a closed connection, and other addresses
// are still served from the rest of the budget.
func TestInflightBytesPerClientAddress(t *testing.T) {
	m := metrics.New()
	srv := httptest.NewServer(New(Deps{
		Logger: zap.NewNop(), Metrics: m, Publisher: &fakePublisher{}, Receive: true,
		Ready:     readyFunc(func(context.Context) error { return nil }),
		Receivers: receivers([]string{"s3cret"}, "", ""), MaxBodyBytes: 1 << 20, MaxInflightBytes: 8 << 20,
		MaxInflightBytesPerIP: 1<<20 + 1,
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	stallFrom(t, addr, "127.0.0.1", "", 1<<20, 600_000) // its buffer: 1 MiB
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, float64(1<<20), testutil.ToFloat64(m.WebhookBytesInflight))
	}, 10*time.Second, 5*time.Millisecond, "the slow body holds 1 MiB")

	conn := stallFrom(t, addr, "127.0.0.1", "", 1<<20, 1)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "answered at once, not left to stall")
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, retryAfterSeconds, resp.Header.Get("Retry-After"))
	assert.True(t, resp.Close)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", reasonClientLimit)))

	body := samples.LiveChat("incoming_chat", "s3cret", "C1", "T1")
	assert.Equal(t, http.StatusOK, postFrom(t, srv.URL+"/webhooks/livechat", "127.0.0.2", "", body).StatusCode)
}
