package connlimit_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/connlimit"
)

// serve runs an HTTP server answering 200 on a capped listener.
func serve(t *testing.T, maxPerIP int, opts ...connlimit.Option) *connlimit.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := connlimit.New(ln, maxPerIP, opts...)
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l
}

// dialFrom opens a connection from source to the listener.
func dialFrom(t *testing.T, l net.Listener, source string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	c, err := d.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c
}

func get(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err, "the whole answer")
	resp.Body.Close()
	return resp
}

// TestCapPerAddress: an address over its cap gets 429 with Retry-After and
// a closed connection, counted; other addresses and exempt ones are not
// affected; a closed connection gives its place back.
func TestCapPerAddress(t *testing.T) {
	var rejected atomic.Int64
	exempt := netip.MustParseAddr("127.0.0.3")
	l := serve(t, 2, connlimit.OnReject(func(reason string) {
		assert.Equal(t, connlimit.ReasonPerIP, reason)
		rejected.Add(1)
	}),
		connlimit.Exempt(func(a netip.Addr) bool { return a == exempt }))

	a1, a2 := dialFrom(t, l, "127.0.0.1"), dialFrom(t, l, "127.0.0.1")
	assert.Equal(t, http.StatusOK, get(t, a1).StatusCode)
	assert.Equal(t, http.StatusOK, get(t, a2).StatusCode)

	over := get(t, dialFrom(t, l, "127.0.0.1"))
	assert.Equal(t, http.StatusTooManyRequests, over.StatusCode, "third from the same address")
	assert.Equal(t, "5", over.Header.Get("Retry-After"))
	assert.True(t, over.Close)
	assert.EqualValues(t, 1, rejected.Load())

	for _, source := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.3"} {
		assert.Equal(t, http.StatusOK, get(t, dialFrom(t, l, source)).StatusCode, source)
	}
	assert.EqualValues(t, 1, rejected.Load(), "only the address over its cap")

	require.NoError(t, a1.Close())
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 1, l.Open(netip.MustParseAddr("127.0.0.1")))
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, http.StatusOK, get(t, dialFrom(t, l, "127.0.0.1")).StatusCode, "place given back")
}

// TestCapTotal: with MaxTotal, one connection more than it from any address
// (exempt ones too) gets 503 with Retry-After and a closed connection; a
// closed one gives its place back.
func TestCapTotal(t *testing.T) {
	var reasons []string
	var mu sync.Mutex
	l := serve(t, 10, connlimit.MaxTotal(3), connlimit.Exempt(func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.3") }),
		connlimit.OnReject(func(reason string) { mu.Lock(); reasons = append(reasons, reason); mu.Unlock() }))
	held := []net.Conn{dialFrom(t, l, "127.0.0.1"), dialFrom(t, l, "127.0.0.2"), dialFrom(t, l, "127.0.0.3")}
	for _, c := range held {
		assert.Equal(t, http.StatusOK, get(t, c).StatusCode)
	}
	for _, source := range []string{"127.0.0.4", "127.0.0.3"} {
		over := get(t, dialFrom(t, l, source))
		assert.Equal(t, http.StatusServiceUnavailable, over.StatusCode, source)
		assert.Equal(t, "5", over.Header.Get("Retry-After"))
		assert.True(t, over.Close)
	}
	mu.Lock()
	assert.Equal(t, []string{connlimit.ReasonTotal, connlimit.ReasonTotal}, reasons)
	mu.Unlock()

	require.NoError(t, held[0].Close())
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Zero(c, l.Open(netip.MustParseAddr("127.0.0.1")))
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, http.StatusOK, get(t, dialFrom(t, l, "127.0.0.4")).StatusCode, "place given back")
}
