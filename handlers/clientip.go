package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/labstack/echo/v4"
)

// clientIP names the client of a request (echo's c.RealIP, used in logs and
// for http.max_inflight_per_ip). With no trusted proxies it is the TCP peer
// and forwarded headers are ignored, whoever sent them. When the peer is in
// trusted, X-Forwarded-For names the client (its rightmost address that is
// not itself a trusted proxy), or else X-Real-IP. Echo's defaults, which also
// trust every loopback, link-local and private peer, are turned off.
func clientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if r.Header.Get(echo.HeaderXForwardedFor) != "" {
			return xff(r)
		}
		return realIP(r)
	}
}

// perClient counts the webhooks in flight by client address.
type perClient struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newPerClient(max int) *perClient { return &perClient{max: max, n: map[string]int{}} }

// take counts one more webhook of ip, or reports false when ip has max.
func (p *perClient) take(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] >= p.max {
		return false
	}
	p.n[ip]++
	return true
}

func (p *perClient) done(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] <= 1 {
		delete(p.n, ip)
		return
	}
	p.n[ip]--
}
