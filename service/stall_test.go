package service_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/samples"
)

// staller keeps one stalled webhook open from source: it connects, declares
// a 1 MiB LiveChat webhook, sends one byte and nothing more, waits for the
// server to answer or close, and starts again after a pause, until ctx ends.
func staller(ctx context.Context, addr, source string, opened *atomic.Int64) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	head := []byte("POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{")
	for ctx.Err() == nil {
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			if _, err := c.Write(head); err == nil {
				opened.Add(1)
				_, _ = io.Copy(io.Discard, c) // until the server closes it
			}
			stop()
			c.Close()
		}
		select { // a new stalled connection a second per attacker
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// TestStalledConnectionsDoNotStopWebhooks is the attack of issue 18 against
// the real service with its default limits: 300 connections from one
// address and 300 from 300 other addresses each declare a 1 MiB webhook and
// send one byte, and each is replaced by a new one as soon as the server
// lets it go. Meanwhile genuine signed LiveChat webhooks from another
// address, spread over more than http.body_timeout so that stalled
// connections time out and new ones arrive while they are sent, must all be
// stored (200), fast.
func TestStalledConnectionsDoNotStopWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 600 connections")
	}
	_, apiURL := startFake(t)
	cfg := testConfig(t, apiURL, "")
	svc := start(t, cfg, both)
	m := svc.Metrics()

	ctx, cancel := context.WithCancel(context.Background())
	var attackers sync.WaitGroup
	t.Cleanup(func() { cancel(); attackers.Wait() })
	var opened atomic.Int64
	for i := range 600 {
		source := "127.0.0.1" // 300 from one address
		if i >= 300 {
			source = fmt.Sprintf("127.0.%d.%d", 2+(i-300)/250, 1+(i-300)%250) // 300 from 300 addresses
		}
		attackers.Go(func() { staller(ctx, svc.Addr(), source, &opened) })
	}
	// The attack holds: every address in flight up to its cap (64 from
	// 127.0.0.1, http.max_inflight_per_ip), each charged its 4 KiB buffer.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, testutil.ToFloat64(m.WebhookBytesInflight), float64((64+300)*4096))
	}, 20*time.Second, 10*time.Millisecond, "the stalled webhooks are in flight")

	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.1.1")}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(client.CloseIdleConnections)
	const n = 200
	var latencies []time.Duration
	statuses := map[int]int{}
	begin := time.Now()
	for i := range n {
		// Spread over 6 s, more than http.body_timeout (5 s).
		time.Sleep(time.Until(begin.Add(time.Duration(i) * 6 * time.Second / n)))
		body := samples.LiveChat("incoming_chat", secret, fmt.Sprint("GENUINE", i), fmt.Sprint("T", i))
		start := time.Now()
		resp, err := client.Post("http://"+svc.Addr()+"/webhooks/livechat", "application/json", bytes.NewReader(body))
		if !assert.NoError(t, err, "webhook %d", i) {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		latencies = append(latencies, time.Since(start))
		statuses[resp.StatusCode]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: n}, statuses, "every genuine webhook stored")
	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	t.Logf("genuine webhooks: %d, p50 %s, p99 %s, max %s; stalled connections opened: %d", n, p50, p99, latencies[len(latencies)-1], opened.Load())
	// The bound is p99 under 100 ms. Under -race on a shared 2-core
	// CI machine everything runs several times slower, so only a bound far
	// above that holds there; bench/load -attack stall measures the real
	// figure without the race detector (bench/RESULTS.md).
	bound := 100 * time.Millisecond
	if raceEnabled {
		bound = time.Second
	}
	assert.Less(t, p99, bound, "p99 of the genuine webhooks")

	// The attack was real: stalled bodies timed out and were replaced,
	// addresses over their caps were turned away.
	assert.Positive(t, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", "body_timeout")), "stalled bodies answered 408")
	assert.Positive(t, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("livechat", "client_limit")), "127.0.0.1 over max_inflight_per_ip")
	// Whether 127.0.0.1 ever holds more than max_conns_per_ip at once
	// depends on how fast a loaded machine opens its 300 connections
	// against the 5 s deadlines; TestConnsPerClientAddress checks that cap
	// deterministically. Here it is reported.
	t.Logf("connections refused at accept: per address %v, in all %v",
		testutil.ToFloat64(m.ConnectionsRejected.WithLabelValues("per_ip")), testutil.ToFloat64(m.ConnectionsRejected.WithLabelValues("total")))
	assert.Greater(t, opened.Load(), int64(600), "new stalled connections arrived during the test")
}
