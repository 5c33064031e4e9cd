// Package framing refuses HTTP/1.x requests whose head carries both
// Content-Length and Transfer-Encoding: they are answered 400 and their
// connection is closed, as RFC 9112 §6.1 asks ("ought to be handled as an
// error"; a server that answers must close the connection after it). Such
// a request may be an attempt at request smuggling through a proxy that
// frames it by the other header.
//
// Go's net/http cannot do this alone: when a request is chunked it deletes
// Content-Length from Request.Header before any handler runs
// (net/http/transfer.go, fixLength), and it keeps the connection alive. So
// Protect wraps the listener: each connection follows the HTTP/1.1 framing of
// the bytes the server reads (request heads, Content-Length and chunked
// bodies, trailers) and notes, for every request head, whether it had both
// headers; a handler wrapped around the server's handler takes those notes
// in order, one per request, and answers the offenders.
package framing

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"

	"go.uber.org/zap"
)

// Protect makes srv refuse requests with both Content-Length and
// Transfer-Encoding (400, JSON body, "Connection: close") on every route.
// It wraps srv.Handler (set it first; nil means http.DefaultServeMux),
// chains srv.ConnContext, and sets srv.DisableGeneralOptionsHandler so that
// every request ("OPTIONS *" included) reaches the handler. Serve srv on
// the returned listener: requests arriving over other listeners pass
// unchecked.
//
// Guarantees: a refused request reaches no handler of srv and its
// connection is closed after the 400. When the connection's framing cannot
// be followed (bytes net/http will refuse too, or a mismatch that should not
// happen), the request is served and its connection closed after it, so the
// next request starts on a fresh connection: a request is never refused by
// mistake, and no request is served on a connection whose heads were not
// checked. log receives one Info line per refused request (nil: none).
func Protect(srv *http.Server, ln net.Listener, log *zap.Logger) net.Listener {
	if log == nil {
		log = zap.NewNop()
	}
	next := srv.Handler
	if next == nil {
		next = http.DefaultServeMux
	}
	srv.Handler = guard(next, log.Named("framing"))
	prev := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		if fc := unwrap(c); fc != nil {
			ctx = context.WithValue(ctx, connKey{}, fc)
		}
		return ctx
	}
	srv.DisableGeneralOptionsHandler = true
	return &listener{Listener: ln}
}

// unwrap finds the conn of Protect's listener in c, looking through
// wrappers that expose the connection they wrap as NetConn (as *tls.Conn
// does): another listener wrapper applied after Protect must, or its
// connections pass unchecked.
func unwrap(c net.Conn) *conn {
	for range 16 {
		switch v := c.(type) {
		case *conn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// conflictBody is the answer to a refused request.
var conflictBody = []byte(`{"error":"request has both Content-Length and Transfer-Encoding (RFC 9112 section 6.1)"}` + "\n")

func guard(next http.Handler, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, ok := r.Context().Value(connKey{}).(*conn)
		if !ok || r.ProtoMajor != 1 {
			next.ServeHTTP(w, r)
			return
		}
		h, ok := fc.next(r.Method)
		switch {
		case !ok:
			// The framing was lost: serve this one, then start afresh.
			w.Header().Set("Connection", "close")
		case h.conflict:
			log.Info("request refused: both Content-Length and Transfer-Encoding",
				zap.String("remote", r.RemoteAddr), zap.String("method", r.Method), zap.String("path", r.URL.Path))
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(conflictBody)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type connKey struct{}

type listener struct{ net.Listener }

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// conn follows the framing of the bytes read from it.
type conn struct {
	net.Conn
	mu sync.Mutex // Read runs on the server's connection and background-read goroutines
	p  parser
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.p.feed(b[:n])
		c.mu.Unlock()
	}
	return n, err
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

// CloseWrite lets net/http half-close a TCP connection before closing it,
// as it does for unwrapped ones.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// next takes the note of the oldest request head not yet served. ok is
// false when the framing was lost or the note does not match method.
func (c *conn) next(method string) (h head, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.p.heads) == 0 {
		return head{}, false
	}
	h = c.p.heads[0]
	c.p.heads = c.p.heads[1:]
	return h, h.method == method
}

// head is the note taken of one request head.
type head struct {
	method   string
	conflict bool // both Content-Length and Transfer-Encoding
}

// Parser states.
const (
	stHead      = iota // reading a request head, line by line
	stBody             // skipping a Content-Length body
	stChunkSize        // reading a chunk-size line
	stChunkData        // skipping chunk data
	stChunkEnd         // reading the CRLF after chunk data
	stTrailer          // reading trailer lines up to the empty line
	stLost             // framing not understood: stop
)

// maxKept bounds the bytes kept of one line: enough for any request line's
// method and version, header name and Content-Length value. Longer lines
// are followed (to their end) without keeping the rest.
const maxKept = 1024

// maxHeads bounds the notes waiting for their request; more (a client
// pipelining thousands of tiny requests) loses the framing.
const maxHeads = 1024

// parser follows HTTP/1.x request framing as net/http reads it
// (net/http/transfer.go): Transfer-Encoding (HTTP/1.1 and later) means
// chunked, else Content-Length, else no body.
type parser struct {
	state int
	line  []byte // the current line, up to maxKept bytes
	long  bool   // the current line is longer than maxKept
	left  int64  // bytes left in the body or chunk

	// The head being read.
	lines   int // lines of the head read so far
	method  string
	old     bool // HTTP/1.0 or older: Transfer-Encoding is ignored
	hasCL   bool
	clValue string
	hasTE   bool

	heads []head
}

func (p *parser) feed(b []byte) {
	for len(b) > 0 && p.state != stLost {
		switch p.state {
		case stBody, stChunkData:
			n := int64(len(b))
			if n > p.left {
				n = p.left
			}
			p.left -= n
			b = b[n:]
			if p.left == 0 {
				if p.state == stBody {
					p.state = stHead
				} else {
					p.state = stChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(b, '\n')
			chunk := b
			if i >= 0 {
				chunk = b[:i]
			}
			room := maxKept - len(p.line)
			if len(chunk) > room {
				chunk, p.long = chunk[:room], true
			}
			p.line = append(p.line, chunk...)
			if i < 0 {
				return
			}
			b = b[i+1:]
			line := bytes.TrimSuffix(p.line, []byte("\r"))
			p.endLine(line)
			p.line, p.long = p.line[:0], false
		}
	}
}

// endLine handles one complete line (without its CRLF) in the line states.
func (p *parser) endLine(line []byte) {
	switch p.state {
	case stHead:
		p.headLine(line)
	case stChunkSize:
		size := line
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 63)
		switch {
		case err != nil || p.long:
			p.state = stLost
		case n == 0:
			p.state = stTrailer
		default:
			p.left, p.state = int64(n), stChunkData
		}
	case stChunkEnd:
		if len(line) != 0 {
			p.state = stLost
			return
		}
		p.state = stChunkSize
	case stTrailer:
		if len(line) == 0 {
			p.state = stHead
		}
	}
}

// headLine handles one line of a request head.
func (p *parser) headLine(line []byte) {
	if p.lines == 0 {
		if len(line) == 0 {
			return // empty lines before a request line are ignored (RFC 9112 §2.2)
		}
		p.lines = 1
		method, rest, _ := bytes.Cut(line, []byte(" "))
		p.method = string(method)
		proto := rest[bytes.LastIndexByte(rest, ' ')+1:]
		major, minor, ok := http.ParseHTTPVersion(string(proto))
		p.old = !ok || major < 1 || major == 1 && minor == 0
		p.hasCL, p.hasTE, p.clValue = false, false, ""
		return
	}
	if len(line) == 0 {
		p.endHead()
		return
	}
	p.lines++
	if line[0] == ' ' || line[0] == '\t' {
		return // obsolete line folding: a continuation, not a field
	}
	name, value, found := bytes.Cut(line, []byte(":"))
	if !found {
		return
	}
	name = bytes.TrimSpace(name)
	switch {
	case asciiEqualFold(name, "content-length"):
		p.hasCL = true
		if p.clValue == "" && !p.long {
			p.clValue = string(bytes.TrimSpace(value))
		}
	case asciiEqualFold(name, "transfer-encoding"):
		p.hasTE = true
	}
}

// endHead notes the head and moves on to its body.
func (p *parser) endHead() {
	p.lines = 0
	if len(p.heads) == maxHeads {
		p.state = stLost
		return
	}
	p.heads = append(p.heads, head{method: p.method, conflict: p.hasCL && p.hasTE})
	switch {
	case p.hasTE && !p.old:
		p.state = stChunkSize
	case p.hasCL:
		n, err := strconv.ParseInt(p.clValue, 10, 64)
		switch {
		case err != nil || n < 0:
			p.state = stLost
		case n > 0:
			p.left, p.state = n, stBody
		}
	}
}

// asciiEqualFold reports whether b equals the lowercase ASCII s, ignoring
// ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
