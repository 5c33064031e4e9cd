package service_test

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/service"
)

// TestBrokerUnreachableAnswers503AtOnce: a receiver that cannot reach its
// broker answers webhooks 503 broker_unavailable at once (not after
// http.publish_timeout) and fails /readyz naming the reason, whether the
// broker is down (the connection closes) or cut off by the network (the
// connection stays open and goes silent); once the broker is back, webhooks
// are stored again.
func TestBrokerUnreachableAnswers503AtOnce(t *testing.T) {
	tests := []struct {
		name string
		// cut makes the broker unreachable; restore undoes it.
		cut func(srv *bustest.Server, p *blackhole)
		// restore undoes it.
		restore func(srv *bustest.Server, p *blackhole)
		// readyzFirst: no webhook comes until /readyz has failed; the
		// first one must then be refused at once too.
		readyzFirst bool
	}{
		{"broker stopped", func(srv *bustest.Server, _ *blackhole) { srv.Stop() }, func(srv *bustest.Server, _ *blackhole) { srv.Restart() }, false},
		{"broker cut off by the network", func(_ *bustest.Server, p *blackhole) { p.cut.Store(true) },
			func(_ *bustest.Server, p *blackhole) { p.cut.Store(false) }, false},
		{"broker cut off by the network, noticed by /readyz", func(_ *bustest.Server, p *blackhole) { p.cut.Store(true) },
			func(_ *bustest.Server, p *blackhole) { p.cut.Store(false) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := bustest.Start(t)
			proxy := newBlackhole(t, srv.URL()[len("nats://"):])
			_, url := startFake(t)
			cfg := testConfig(t, url, "nats://"+proxy.addr())
			svc := start(t, cfg, service.Roles{Receive: true})
			require.Equal(t, http.StatusOK, post(t, svc, deactivated("C-before")).StatusCode)

			tt.cut(srv, proxy)
			if tt.readyzFirst {
				// A silent connection answers no request: /readyz finds
				// out, and so the webhook after it is refused at once.
				require.EventuallyWithT(t, func(c *assert.CollectT) {
					code, _ := getJSON(c, "http://"+svc.Addr()+"/readyz", "")
					assert.Equal(c, http.StatusServiceUnavailable, code)
				}, 15*time.Second, 50*time.Millisecond)
				start := time.Now()
				resp := post(t, svc, deactivated("C-first"))
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
				assert.Less(t, time.Since(start), 300*time.Millisecond, "the first webhook after /readyz failed is refused at once, not after http.publish_timeout (1s here)")
			}
			// Within a few seconds (a silent connection is found out by the
			// first webhook that waits http.publish_timeout, 1s here),
			// webhooks are refused at once.
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				start := time.Now()
				resp := post(c, svc, deactivated("C-during"))
				assert.Equal(c, http.StatusServiceUnavailable, resp.StatusCode)
				assert.Less(c, time.Since(start), 300*time.Millisecond, "at once")
			}, 15*time.Second, 50*time.Millisecond)
			for range 5 {
				start := time.Now()
				resp := post(t, svc, deactivated("C-during"))
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
				assert.Equal(t, "5", resp.Header.Get("Retry-After"))
				assert.Less(t, time.Since(start), 300*time.Millisecond, "not after http.publish_timeout")
			}
			assert.GreaterOrEqual(t, testutil.ToFloat64(svc.Metrics().WebhooksRejected.WithLabelValues(event.LiveChat, bus.ReasonBrokerUnavailable)), 5.0)
			code, body := getJSON(t, "http://"+svc.Addr()+"/readyz", "")
			assert.Equal(t, http.StatusServiceUnavailable, code)
			assert.Equal(t, bus.ReasonBrokerUnavailable, body["reason"], "readyz names the cause: %v", body)

			tt.restore(srv, proxy)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.Equal(c, http.StatusOK, post(c, svc, deactivated("C-after")).StatusCode)
			}, 20*time.Second, 100*time.Millisecond, "nats.go reconnects by itself")
			code, _ = getJSON(t, "http://"+svc.Addr()+"/readyz", "")
			assert.Equal(t, http.StatusOK, code)
		})
	}
}

// blackhole is a TCP proxy to a NATS server that can be cut: then it drops
// every byte both ways and forwards nothing on new connections, without
// closing any, as a network partition does.
type blackhole struct {
	ln       net.Listener
	upstream string
	cut      atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newBlackhole(t *testing.T, upstream string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &blackhole{ln: ln, upstream: upstream}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *blackhole) addr() string { return p.ln.Addr().String() }

func (p *blackhole) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies from src to dst while not cut; while cut it reads and drops.
func (p *blackhole) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or closed
			return
		}
	}
}
