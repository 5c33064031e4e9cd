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

// perClient counts the webhooks in flight, and the body bytes they hold, by
// client address.
type perClient struct {
	max      int   // webhooks (http.max_inflight_per_ip)
	maxBytes int64 // body bytes: a share of http.max_inflight_bytes
	mu       sync.Mutex
	m        map[string]*clientUse
}

type clientUse struct {
	n     int
	bytes int64
}

func newPerClient(max int, maxBytes int64) *perClient {
	return &perClient{max: max, maxBytes: maxBytes, m: map[string]*clientUse{}}
}

// take counts one more webhook of ip, or reports false when ip has max.
func (p *perClient) take(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.m[ip]
	if u == nil {
		u = &clientUse{}
		p.m[ip] = u
	}
	if u.n >= p.max {
		return false
	}
	u.n++
	return true
}

// done counts one webhook of ip less; its bytes were given back before.
func (p *perClient) done(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.m[ip]; u != nil {
		if u.n--; u.n <= 0 && u.bytes <= 0 {
			delete(p.m, ip)
		}
	}
}

// charge takes n bytes of ip's share, or nothing and false when they do not
// fit. ip has a webhook taken.
func (p *perClient) charge(ip string, n int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.m[ip]
	if u == nil || u.bytes+n > p.maxBytes {
		return false
	}
	u.bytes += n
	return true
}

// uncharge gives back n bytes of ip's share.
func (p *perClient) uncharge(ip string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.m[ip]; u != nil {
		u.bytes -= n
	}
}
