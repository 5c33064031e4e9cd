package config

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Defaults and limits of the http section.
const (
	DefaultHTTPAddr         = ":8080"
	DefaultMaxBodyBytes     = 1 << 20 // 1 MiB
	DefaultPublishTimeout   = 5 * time.Second
	DefaultShutdownTimeout  = 20 * time.Second
	DefaultMaxInflightBytes = 64 << 20
	DefaultMaxInflight      = 256
	DefaultHeaderTimeout    = 5 * time.Second
	DefaultBodyTimeout      = 5 * time.Second
	DefaultMaxConnsPerIP    = 256
	DefaultMaxInflightPerIP = 64
	DefaultMaxConns         = 4096
	// DefaultReadTimeout is http.read_timeout and admin.read_timeout.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout is http.write_timeout.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is http.idle_timeout and admin.idle_timeout.
	DefaultIdleTimeout = 2 * time.Minute
	// MinMaxBodyBytes is the smallest http.max_body_bytes accepted.
	MinMaxBodyBytes = 1024
	// MinMemoryBudget is the smallest http.max_memory_bytes accepted: an
	// idle process needs about half of it.
	MinMemoryBudget = 64 << 20
)

// Defaults of the admin section.
const (
	DefaultAdminAddr = "127.0.0.1:9090"
	// DefaultAdminWriteTimeout is admin.write_timeout: a CPU profile or an
	// execution trace streams for up to its "seconds" (30 by default), so
	// the admin listener allows that and some.
	DefaultAdminWriteTimeout = 2 * time.Minute
)

// HTTP configures the public HTTP listener of every role: webhooks (serve,
// receive), /healthz and /readyz (all roles). The admin API, console, metrics
// and profiler are on the admin listener (see Admin).
type HTTP struct {
	// Addr is the host:port to listen on; an empty host means every
	// interface. Default ":8080".
	Addr string `yaml:"addr"`
	// MaxBodyBytes caps a webhook body; a larger one is answered 413. At
	// least 1024. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PublishTimeout is how long a webhook request waits for JetStream to
	// acknowledge the stored event before it is answered 503 with
	// Retry-After. Default 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ShutdownTimeout bounds the graceful shutdown: in-flight requests and
	// workers get this long to finish. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxInflightBytes bounds the webhook bodies being received and stored
	// at once. A body is charged as its bytes arrive, never by its declared
	// Content-Length: its buffer starts at 4 KiB and doubles as it fills, so
	// it counts at most twice the bytes received. Beyond it, webhooks are answered 503 with
	// Retry-After at once instead of queueing: overload costs retries, not
	// memory. At least max_body_bytes. Default 67108864 (64 MiB).
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// MaxInflight bounds the webhooks being stored at once (a webhook takes
	// its slot once its whole body has arrived, so a slow or stalled body
	// holds none); beyond it they are answered 503 with Retry-After at once.
	// It keeps
	// the latency of accepted webhooks low under overload: a stored event
	// takes a few milliseconds, so 256 in flight means well under 100ms of
	// waiting. Default 256.
	MaxInflight int `yaml:"max_inflight"`
	// MaxMemoryBytes is the process's memory budget, embedded broker
	// included: Go's soft memory limit is set to 90% of it (unless
	// GOMEMLIMIT is set), and webhooks are answered 503 with Retry-After
	// while the live heap is above 70% of it, until the broker's read cache
	// shrinks back. Set it a little under a container's memory limit. 0 or
	// at least 67108864 (64 MiB). Default 0 (no budget).
	MaxMemoryBytes int64 `yaml:"max_memory_bytes"`
	// HeaderTimeout bounds the time to read a request's headers (the
	// server's ReadHeaderTimeout); a connection that takes longer is
	// closed. Default 5s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// BodyTimeout bounds the time to receive a webhook's whole body, counted
	// from when its headers have been read. A body that has not arrived by
	// then is answered 408 and its connection closed: a stalled sender holds
	// its connection for this long at most. Webhook bodies are small (a few
	// KB) and arrive in one go. Default 5s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxConnsPerIP caps the connections open at once from one client
	// address (the TCP peer; connections from trusted_proxies are not
	// capped). One more is answered 429 with Retry-After and closed before
	// its request is read; other addresses are not affected. A platform
	// sends from a handful of addresses over pooled keep-alive connections:
	// at 5,000 webhooks/s from 4 addresses, even at 50 ms an answer, each
	// has about 63 requests open (Little's law), so 256 leaves four times
	// that for pools that keep idle connections. At least 1. Default 256.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxInflightPerIP caps the webhooks being received or stored at once
	// for one client address (the forwarded one behind trusted_proxies);
	// one more is answered 429 with Retry-After and its connection closed.
	// The same answer goes to an address whose webhooks would hold more than
	// a quarter of max_inflight_bytes (or one body of max_body_bytes if
	// more): no one address can take the whole byte budget with bodies it
	// sends slowly. Sized as
	// max_conns_per_ip from the same reasoning (about 63 in flight per
	// sender address at 5,000/s and 50 ms). At least 1. Default 64.
	MaxInflightPerIP int `yaml:"max_inflight_per_ip"`
	// TrustedProxies are the reverse proxies (CIDRs, or single addresses)
	// allowed to name the client: only when the TCP peer is one of them do
	// X-Forwarded-For (its rightmost address not itself a trusted proxy) or
	// X-Real-IP name the client, for logs and max_inflight_per_ip; their
	// connections are not capped by max_conns_per_ip. Default none: the
	// TCP peer is the client and forwarded headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxConns caps the connections open at once from every address
	// together (trusted proxies included); one more is answered 503 with
	// Retry-After and closed before its request is read. It keeps memory
	// (about 16 KB a connection: 4096 take some 64 MiB) and file
	// descriptors for the rest of the process (the embedded broker's files)
	// however many addresses connect; a platform's senders need a few
	// hundred at most (see max_conns_per_ip). At least 1. Default 4096.
	MaxConns int `yaml:"max_conns"`
	// ReadTimeout bounds the time to read a whole request, body included
	// (the server's ReadTimeout); a webhook's body is bounded by BodyTimeout
	// instead. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer (the server's WriteTimeout): past it the
	// connection is closed without one. Keep it above BodyTimeout plus
	// PublishTimeout (a warning says so otherwise). Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before it is closed (the server's IdleTimeout). Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// Provision sets each zero setting of the http section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (h *HTTP) Provision() {
	setString(&h.Addr, DefaultHTTPAddr)
	setInt64(&h.MaxBodyBytes, DefaultMaxBodyBytes)
	setDuration(&h.PublishTimeout, DefaultPublishTimeout)
	setDuration(&h.ShutdownTimeout, DefaultShutdownTimeout)
	setInt64(&h.MaxInflightBytes, DefaultMaxInflightBytes)
	setInt(&h.MaxInflight, DefaultMaxInflight)
	setDuration(&h.HeaderTimeout, DefaultHeaderTimeout)
	setDuration(&h.BodyTimeout, DefaultBodyTimeout)
	setInt(&h.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setInt(&h.MaxInflightPerIP, DefaultMaxInflightPerIP)
	setInt(&h.MaxConns, DefaultMaxConns)
	setDuration(&h.ReadTimeout, DefaultReadTimeout)
	setDuration(&h.WriteTimeout, DefaultWriteTimeout)
	setDuration(&h.IdleTimeout, DefaultIdleTimeout)
}

// Validate reports every problem of the http section, each a *FieldError
// naming its key ("http.max_conns: must be at least 1, got 0"), joined with
// errors.Join; nil when there is none. It applies no default.
func (h *HTTP) Validate() error { return validateWith(h.validate) }

func (h *HTTP) validate(v *validator) {
	v.hostPort("http.addr", h.Addr, `":8080" or "127.0.0.1:8080"`)
	if h.MaxBodyBytes < MinMaxBodyBytes {
		v.add("http.max_body_bytes", "must be at least %d, got %d", MinMaxBodyBytes, h.MaxBodyBytes)
	}
	v.positive("http.publish_timeout", h.PublishTimeout)
	v.positive("http.shutdown_timeout", h.ShutdownTimeout)
	v.positive("http.header_timeout", h.HeaderTimeout)
	v.positive("http.body_timeout", h.BodyTimeout)
	v.positive("http.read_timeout", h.ReadTimeout)
	v.positive("http.write_timeout", h.WriteTimeout)
	v.positive("http.idle_timeout", h.IdleTimeout)
	if h.MaxConnsPerIP < 1 {
		v.add("http.max_conns_per_ip", "must be at least 1, got %d", h.MaxConnsPerIP)
	}
	if h.MaxConns < 1 {
		v.add("http.max_conns", "must be at least 1, got %d", h.MaxConns)
	}
	if h.MaxInflightPerIP < 1 {
		v.add("http.max_inflight_per_ip", "must be at least 1, got %d", h.MaxInflightPerIP)
	}
	for i, s := range h.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			v.add(fmt.Sprintf("http.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8 or an IP address, got %q", s)
		}
	}
	if h.MaxInflight < 1 {
		v.add("http.max_inflight", "must be at least 1, got %d", h.MaxInflight)
	}
	if h.MaxMemoryBytes != 0 && h.MaxMemoryBytes < MinMemoryBudget {
		v.add("http.max_memory_bytes", "must be 0 (no budget) or at least %d (64 MiB), got %d", MinMemoryBudget, h.MaxMemoryBytes)
	}
	if h.MaxInflightBytes < h.MaxBodyBytes {
		v.add("http.max_inflight_bytes", "must be at least http.max_body_bytes (%d), got %d", h.MaxBodyBytes, h.MaxInflightBytes)
	}
}

// TrustedProxyPrefixes is TrustedProxies parsed (a single address as a
// one-address prefix); entries that do not parse are left out (Validate
// reports them).
func (h HTTP) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range h.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Admin configures the admin listener: the admin API (/admin/), the web
// console (/ui/), Prometheus metrics (/metrics) and Go's profiler
// (/debug/pprof/). It is a listener of its own so that the public webhook
// port (http.addr) never exposes them.
type Admin struct {
	// Addr is the host:port of the admin listener, or "off" for none. A
	// non-loopback address needs Token: the process refuses to start
	// without it. Port 0 picks a free port. Default "127.0.0.1:9090".
	Addr string `yaml:"addr"`
	// Token is the bearer token of /admin/, the console's data, /debug/pprof/
	// and (unless MetricsPublic) /metrics. It used to be http.admin_token,
	// which is still read, with a warning. Default "": those routes answer
	// 403 saying to set it.
	Token string `yaml:"token"`
	// MetricsPublic serves /metrics without the token, for a Prometheus
	// scraping over a private network. Default false.
	MetricsPublic bool `yaml:"metrics_public"`
	// ReadTimeout bounds the time to read a whole request, body included
	// (the server's ReadTimeout); the headers are bounded by
	// http.header_timeout. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer (the server's WriteTimeout). A CPU profile or
	// execution trace of /debug/pprof/ may last at most this long. Default
	// 2m.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before it is closed (the server's IdleTimeout). Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// AdminOff as admin.addr turns the admin listener off.
const AdminOff = "off"

// Provision sets each zero setting of the admin section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (a *Admin) Provision() {
	setString(&a.Addr, DefaultAdminAddr)
	setDuration(&a.ReadTimeout, DefaultReadTimeout)
	setDuration(&a.WriteTimeout, DefaultAdminWriteTimeout)
	setDuration(&a.IdleTimeout, DefaultIdleTimeout)
}

// Validate reports every problem of the admin section, each a *FieldError
// naming its key, joined with errors.Join; nil when there is none. With
// admin.addr "off" there is nothing to check.
func (a *Admin) Validate() error { return validateWith(a.validate) }

func (a *Admin) validate(v *validator) {
	if a.Addr == AdminOff {
		return
	}
	v.hostPort("admin.addr", a.Addr, `"127.0.0.1:9090"`)
	if _, _, err := net.SplitHostPort(a.Addr); err == nil && a.Token == "" && !IsLoopbackAddr(a.Addr) {
		v.add("admin.token", "required when admin.addr (%q) is not a loopback address: the admin API, console, metrics and profiler would face the network with no token; set admin.token (e.g. token: \"${CHATWARDEN_ADMIN_TOKEN}\", openssl rand -hex 32) or listen on 127.0.0.1", a.Addr)
	}
	v.positive("admin.read_timeout", a.ReadTimeout)
	v.positive("admin.write_timeout", a.WriteTimeout)
	v.positive("admin.idle_timeout", a.IdleTimeout)
}
