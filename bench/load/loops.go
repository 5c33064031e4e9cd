package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result: latencies are those of requests answered 200.
type result struct {
	requests, ok, shed, errs int
	offered                  int
	elapsed                  time.Duration
	latencies                []time.Duration
	statuses                 map[int]int // answers by status
	stalled                  int64       // stall: stalled connections opened
}

// statusCounts is "200=n 503=m ..." in status order, or "none".
func (r result) statusCounts() string {
	if len(r.statuses) == 0 {
		return "none"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(r.statuses)) {
		parts = append(parts, fmt.Sprintf("%d=%d", s, r.statuses[s]))
	}
	return strings.Join(parts, " ")
}

func (r result) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[(len(r.latencies)-1)*p/100].Round(10 * time.Microsecond)
}

type recorder struct {
	mu  sync.Mutex
	res result
}

func (rc *recorder) add(status int, d time.Duration, err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.res.requests++
	if err == nil {
		if rc.res.statuses == nil {
			rc.res.statuses = map[int]int{}
		}
		rc.res.statuses[status]++
	}
	switch {
	case err != nil:
		rc.res.errs++
	case status == http.StatusOK:
		rc.res.ok++
		rc.res.latencies = append(rc.res.latencies, d)
	case status == http.StatusServiceUnavailable:
		rc.res.shed++
	default:
		rc.res.errs++
	}
}

func (rc *recorder) done(start time.Time) result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.res.elapsed = time.Since(start)
	slices.Sort(rc.res.latencies)
	return rc.res
}

// closedLoop posts as fast as answered on o.concurrency connections.
func closedLoop(ctx context.Context, url string, o options, next *int64) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	rc := &recorder{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := newPoster(url)
			if err != nil {
				rc.add(0, 0, err)
				return
			}
			defer p.close()
			stop := context.AfterFunc(ctx, p.abort) // unblocks a pending answer at the end
			defer stop()
			for ctx.Err() == nil && sent.Add(1) <= int64(o.maxRequests) {
				t0 := time.Now()
				status, err := p.post(atomic.AddInt64(next, 1))
				if ctx.Err() != nil && err != nil {
					return
				}
				rc.add(status, time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	return rc.done(start)
}

// openLoop offers rate requests per second over conns connections, each
// following its own schedule (as wrk2 does): latency is measured from when a
// request was due, so a slow server cannot hide its delay by slowing the
// generator down (no coordinated omission).
func openLoop(ctx context.Context, url string, rate, conns int, o options, next *int64) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	rc := &recorder{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) * float64(conns) / float64(rate))
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p, err := newPoster(url)
			if err != nil {
				rc.add(0, 0, err)
				return
			}
			p.source = o.source
			defer p.close()
			stop := context.AfterFunc(ctx, p.abort)
			defer stop()
			offset := time.Duration(w) * interval / time.Duration(conns)
			timer := time.NewTimer(0)
			defer timer.Stop()
			for i := 0; ctx.Err() == nil && sent.Add(1) <= int64(o.maxRequests); i++ {
				due := start.Add(offset + time.Duration(i)*interval)
				if d := time.Until(due); d > 0 {
					timer.Reset(d)
					select {
					case <-timer.C:
					case <-ctx.Done():
						return
					}
				}
				status, err := p.post(atomic.AddInt64(next, 1))
				if ctx.Err() != nil && err != nil {
					return
				}
				rc.add(status, time.Since(due), err)
			}
		}(w)
	}
	wg.Wait()
	res := rc.done(start)
	res.offered = rate
	return res
}

// stallAttack runs the stall scenario for o.duration: the attack of issue
// 18 (see the package comment) while genuine webhooks are offered at
// o.attackRate from 127.0.1.1 on 8 connections. The genuine webhooks start
// once every stalled connection has been opened once (or after 10 s).
func stallAttack(ctx context.Context, url string, o options, next *int64) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u, _ := neturl.Parse(url)
	var opened atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 2 * o.attackConns {
		source := net.IPv4(127, 0, 0, 1)
		if i >= o.attackConns {
			k := (i - o.attackConns) % o.attackAddrs // 127.0.2.1, 127.0.2.2, ...
			source = net.IPv4(127, 0, byte(2+k/250), byte(1+k%250))
		}
		wg.Go(func() { stall(ctx, u.Host, u.RequestURI(), source, &opened) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for opened.Load() < int64(2*o.attackConns) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	genuine := o
	genuine.source = &net.TCPAddr{IP: net.IPv4(127, 0, 1, 1)}
	res := openLoop(ctx, url, o.attackRate, 8, genuine, next)
	res.stalled = opened.Load()
	return res
}

// stall keeps one stalled webhook open from source until ctx ends: it
// connects, declares a 1 MiB body, sends one byte, waits for the target to
// answer or close, and a second later starts again.
func stall(ctx context.Context, addr, path string, source net.IP, opened *atomic.Int64) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: source}, Timeout: 5 * time.Second}
	head := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{", path, addr))
	for ctx.Err() == nil {
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			if _, err := c.Write(head); err == nil {
				opened.Add(1)
				_, _ = io.Copy(io.Discard, c)
			}
			stop()
			c.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
