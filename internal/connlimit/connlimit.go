// Package connlimit caps the connections a listener keeps open per remote
// address, so that one address cannot take the connections, goroutines and
// file descriptors every other client needs, and optionally in total.
package connlimit

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Rejection is what a connection over its address's cap is sent before it is
// closed: a minimal HTTP/1.1 answer any HTTP client understands, sent before
// the request is read.
const Rejection = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 52\r\n\r\ntoo many connections from your address; retry later\n"

// Overloaded is what a connection over the total cap (MaxTotal) is sent
// before it is closed.
const Overloaded = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 34\r\n\r\ntoo many connections; retry later\n"

// lingerFor is how long a rejected connection is kept, its input discarded,
// after the answer was sent: closing a socket with unread input resets it,
// and the client may then lose the answer. At most maxLingering rejected
// connections linger at once; beyond, they are closed at once.
const (
	lingerFor    = time.Second
	maxLingering = 64
)

// Listener is a net.Listener that keeps at most a fixed number of
// connections open per remote IP address. A connection beyond it is answered
// Rejection and closed by Accept itself, without being returned: only that
// address is affected. Safe for concurrent use.
type Listener struct {
	net.Listener
	max      int
	maxTotal int // 0: none
	exempt   func(netip.Addr) bool
	onReject func(reason string)

	mu    sync.Mutex
	open  map[netip.Addr]int
	total int

	lingering chan struct{}
}

// Option configures New.
type Option func(*Listener)

// Exempt exempts the remote addresses for which f is true from the cap
// (e.g. a trusted reverse proxy, whose connections carry every client's
// requests).
func Exempt(f func(netip.Addr) bool) Option { return func(l *Listener) { l.exempt = f } }

// Reasons passed to OnReject.
const (
	ReasonPerIP = "per_ip" // over maxPerIP
	ReasonTotal = "total"  // over MaxTotal
)

// OnReject calls f with the reason for each connection rejected (e.g. to
// count it).
func OnReject(f func(reason string)) Option { return func(l *Listener) { l.onReject = f } }

// MaxTotal caps the connections open at once from every address together,
// exempt ones included (0: no cap); one more is answered Overloaded (503)
// and closed. It keeps file descriptors for the rest of the process (the
// broker's files, its clients) however many addresses connect.
func MaxTotal(n int) Option { return func(l *Listener) { l.maxTotal = max(0, n) } }

// New wraps ln so that each remote IP address has at most maxPerIP
// connections open (at least 1).
func New(ln net.Listener, maxPerIP int, opts ...Option) *Listener {
	l := &Listener{Listener: ln, max: max(1, maxPerIP), open: map[netip.Addr]int{},
		lingering: make(chan struct{}, maxLingering)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Accept returns the next connection whose address is under its cap;
// connections over it are answered and closed meanwhile.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c)
		capped := ok && (l.exempt == nil || !l.exempt(ip))
		l.mu.Lock()
		switch {
		case l.maxTotal > 0 && l.total >= l.maxTotal:
			l.mu.Unlock()
			l.reject(c, ReasonTotal, Overloaded)
			continue
		case capped && l.open[ip] >= l.max:
			l.mu.Unlock()
			l.reject(c, ReasonPerIP, Rejection)
			continue
		}
		l.total++
		if capped {
			l.open[ip]++
		}
		l.mu.Unlock()
		return &conn{Conn: c, release: func() { l.release(ip, capped) }}, nil
	}
}

// Open is the number of connections open now from ip (for tests and
// diagnostics).
func (l *Listener) Open(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip.Unmap()]
}

func (l *Listener) release(ip netip.Addr, capped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if !capped {
		return
	}
	if l.open[ip] <= 1 {
		delete(l.open, ip)
		return
	}
	l.open[ip]--
}

func (l *Listener) reject(c net.Conn, reason, answer string) {
	if l.onReject != nil {
		l.onReject(reason)
	}
	_ = c.SetDeadline(time.Now().Add(lingerFor))
	_, _ = io.WriteString(c, answer)
	select {
	case l.lingering <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.lingering }()
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, 64<<10)
		_ = c.Close()
	}()
}

func remoteIP(c net.Conn) (netip.Addr, bool) {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap(), true
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// conn gives its address's place back when closed (once).
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
